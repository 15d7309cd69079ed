/**
 * DHCP through real namespaces: `t7-srv` runs busybox udhcpd on one end of a veth pair, `t7-cli` holds the other
 * end and plays the runtime container, whose "PID" is a `sleep` started inside it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Compile } from 'typebox/compile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DhcpUpdateEvent } from '../src/protocol.js';
import { DEFAULT_HOOK_PATH, type RunningSidecar, startSidecar } from '../src/sidecar.js';
import { eventually, type Message, TestClient } from './client.js';
import { deleteNetns, ip, isRoot, sh, startRuntimeProcess } from './netns.js';

const SRV = 't7-srv';
const CLI = 't7-cli';
const MAC = '02:42:0A:4F:00:99';
const SPARE_MAC = '02:42:0a:50:00:05';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!isRoot)('DHCP clients in a runtime network namespace', () => {
  let dir: string;
  let sidecar: RunningSidecar;
  let client: TestClient;
  const processes: ChildProcess[] = [];
  let containerPid = 0;

  /** A runtime's init inside t7-cli (its own PID namespace too): its PID is what the agent sends as container_pid. */
  async function startContainerProcess(): Promise<number> {
    const { child, pid } = await startRuntimeProcess(CLI);
    processes.push(child);
    const cliNetns = (await sh('stat', ['-L', '-c', '%i', `/var/run/netns/${CLI}`])).trim();
    await eventually(
      async () => (await readlink(`/proc/${pid}/ns/net`)) === `net:[${cliNetns}]`,
      10_000,
      `sleep ${pid} to be in ${CLI}`,
    );
    return pid;
  }

  const status = async (key: string) => {
    const reply = await client.request({ command: 'get_dhcp_status' });
    return (reply.status as Record<string, Message>)[key];
  };

  beforeAll(async () => {
    await deleteNetns(SRV, CLI);
    await ip('netns', 'add', SRV);
    await ip('netns', 'add', CLI);
    await ip('-n', SRV, 'link', 'add', 't7s0', 'type', 'veth', 'peer', 'name', 't7c0', 'netns', CLI);
    await ip('-n', SRV, 'addr', 'add', '10.79.0.1/24', 'dev', 't7s0');
    await ip('-n', SRV, 'link', 'set', 't7s0', 'up');
    await ip('-n', CLI, 'link', 'set', 't7c0', 'address', MAC.toLowerCase());
    await ip('-n', CLI, 'link', 'set', 't7c0', 'up');
    // A second vNIC with no DHCP server behind it, for the tests that need none.
    await ip('-n', SRV, 'link', 'add', 't7s1', 'type', 'veth', 'peer', 'name', 't7c1', 'netns', CLI);
    await ip('-n', SRV, 'link', 'set', 't7s1', 'up');
    await ip('-n', CLI, 'link', 'set', 't7c1', 'address', SPARE_MAC);
    await ip('-n', CLI, 'link', 'set', 't7c1', 'up');

    dir = await mkdtemp(join(tmpdir(), 't7-dhcp-'));
    await writeFile(join(dir, 'udhcpd.leases'), '');
    await writeFile(
      join(dir, 'udhcpd.conf'),
      [
        'start 10.79.0.100',
        'end 10.79.0.150',
        'interface t7s0',
        `lease_file ${join(dir, 'udhcpd.leases')}`,
        `pidfile ${join(dir, 'udhcpd.pid')}`,
        'option subnet 255.255.255.0',
        'option router 10.79.0.1',
        'option dns 10.79.0.53 10.79.0.54',
        'option domain plant.local',
        'option lease 600',
        '',
      ].join('\n'),
    );
    processes.push(
      spawn('ip', ['netns', 'exec', SRV, 'busybox', 'udhcpd', '-f', join(dir, 'udhcpd.conf')], { stdio: 'ignore' }),
    );
    containerPid = await startContainerProcess();

    sidecar = await startSidecar({
      socketPath: join(dir, 'netmon.sock'),
      dataDir: join(dir, 'data'),
      log: pino({ level: 'silent' }),
      sysRoot: join(dir, 'no-sys'),
      dhcp: { restartMinMs: 200 },
    });
    client = await TestClient.connect(join(dir, 'netmon.sock'));
    await client.event('device_discovery');
  });

  afterAll(async () => {
    await client?.close();
    await sidecar?.close();
    for (const child of processes) if (child.exitCode === null) child.kill('SIGTERM');
    await deleteNetns(SRV, CLI);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the hook configures a dotted-mask lease with the right prefix and prints it for the sidecar', async () => {
    const run = spawn('ip', ['netns', 'exec', CLI, 'sh', DEFAULT_HOOK_PATH, 'bound'], {
      env: {
        ...process.env,
        interface: 't7c1',
        ip: '10.80.0.5',
        mask: '255.255.240.0',
        router: '10.80.0.1 10.80.0.2',
        dns: '10.80.0.53',
        domain: 'line "3"',
        lease: '300',
        ORCH_DHCP_KEY: 'hooktest',
        ORCH_DHCP_LEASE_DIR: join(dir, 'hook'),
      },
    });
    let out = '';
    run.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    await new Promise((resolve) => run.on('close', resolve));
    const line = out.split('\n').find((l) => l.startsWith('ORCH_LEASE '));
    const lease = JSON.parse(line!.slice('ORCH_LEASE '.length)) as Message;
    expect(lease).toMatchObject({
      ip: '10.80.0.5',
      mask: '255.255.240.0',
      prefix: 20,
      domain: 'line "3"',
      event: 'bound',
    });
    expect(JSON.parse(await readFile(join(dir, 'hook', 'hooktest.lease'), 'utf8'))).toEqual(lease);
    const addrs = JSON.parse(await ip('-n', CLI, '-json', 'addr', 'show', 'dev', 't7c1')) as Array<{
      addr_info: Array<{ family: string; local: string; prefixlen: number }>;
    }>;
    expect(addrs[0]?.addr_info.filter((a) => a.family === 'inet')).toEqual([
      expect.objectContaining({ local: '10.80.0.5', prefixlen: 20 }),
    ]);
    expect(await ip('-n', CLI, 'route', 'show', 'default')).toContain('default via 10.80.0.1 dev t7c1 metric 100');
    await ip('-n', CLI, 'addr', 'flush', 'dev', 't7c1');
  });

  it('start_dhcp finds the vNIC by MAC, and the lease arrives as dhcp_update with prefix, gateway and DNS', async () => {
    const reply = await client.request({
      command: 'start_dhcp',
      container_name: 'plc1',
      vnic_name: 'eth1',
      mac_address: MAC,
      container_pid: containerPid,
    });
    expect(reply).toMatchObject({ success: true, message: 'DHCP client started for t7c0' });
    const update = await client.event('dhcp_update', (d) => d.container_name === 'plc1');
    expect(Compile(DhcpUpdateEvent).Check(update)).toBe(true);
    const data = update.data as Message;
    expect(data).toMatchObject({
      container_name: 'plc1',
      vnic_name: 'eth1',
      mac_address: MAC,
      mask: '24',
      prefix: 24,
      gateway: '10.79.0.1',
      dns: '10.79.0.53 10.79.0.54',
      lease_time: '600',
      interface: 't7c0',
      domain: 'plant.local',
      event: 'bound',
    });
    expect(String(data.ip)).toMatch(/^10\.79\.0\.(1[0-4]\d|150)$/);
    expect(await ip('-n', CLI, '-4', '-o', 'addr', 'show', 'dev', 't7c0')).toContain(`inet ${String(data.ip)}/24`);
    const leaseFile = JSON.parse(await readFile(join(dir, 'data', 'dhcp', 'plc1_eth1.lease'), 'utf8')) as Message;
    expect(leaseFile).toMatchObject({ ip: data.ip, prefix: 24, dns: '10.79.0.53 10.79.0.54' });
    expect(await status('plc1:eth1')).toMatchObject({
      running: true,
      last_ip: data.ip,
      interface: 't7c0',
      container_pid: containerPid,
      state: 'running',
    });
  });

  it('answers "already running" to a repeated start_dhcp with the same PID and MAC', async () => {
    const before = await status('plc1:eth1');
    expect(
      await client.request({
        command: 'start_dhcp',
        container_name: 'plc1',
        vnic_name: 'eth1',
        mac_address: MAC.toLowerCase(),
        container_pid: String(containerPid),
      }),
    ).toMatchObject({ success: true, message: 'DHCP client already running' });
    expect((await status('plc1:eth1'))?.pid).toBe(before?.pid);
  });

  it('replaces the client when the runtime comes back with a new PID', async () => {
    const before = await status('plc1:eth1');
    const oldClientPid = Number(before?.pid);
    expect(alive(oldClientPid)).toBe(true);
    const newPid = await startContainerProcess();
    const reply = await client.request({
      command: 'start_dhcp',
      container_name: 'plc1',
      vnic_name: 'eth1',
      mac_address: MAC,
      container_pid: newPid,
    });
    expect(reply).toMatchObject({ success: true, message: 'DHCP client started for t7c0' });
    await eventually(() => !alive(oldClientPid), 10_000, 'the old udhcpc to exit');
    const update = await client.event('dhcp_update', (d) => d.container_name === 'plc1');
    expect(update.data).toMatchObject({ prefix: 24, gateway: '10.79.0.1' });
    const after = await status('plc1:eth1');
    expect(after).toMatchObject({ running: true, container_pid: newPid });
    expect(after?.pid).not.toBe(oldClientPid);
    containerPid = newPid;
  });

  it('restarts a client that died while its runtime lives on', async () => {
    const pid = Number((await status('plc1:eth1'))?.pid);
    process.kill(pid, 'SIGKILL');
    const restarted = await eventually(
      async () => {
        const s = await status('plc1:eth1');
        return s && s.running === true && s.pid !== pid && s.restarts === 1 ? s : undefined;
      },
      20_000,
      'the client to be restarted',
    );
    expect(restarted).toMatchObject({ state: 'running', interface: 't7c0' });
  });

  it('stop_dhcp ends the client and forgets it', async () => {
    const pid = Number((await status('plc1:eth1'))?.pid);
    expect(await client.request({ command: 'stop_dhcp', container_name: 'plc1', vnic_name: 'eth1' })).toEqual(
      expect.objectContaining({ success: true, message: 'DHCP client stopped for plc1:eth1' }),
    );
    expect(alive(pid)).toBe(false);
    expect(await status('plc1:eth1')).toBeUndefined();
    await expect(access(join(dir, 'data', 'dhcp', 'plc1_eth1.lease'))).rejects.toThrow();
    expect(await client.request({ command: 'stop_dhcp', container_name: 'plc1', vnic_name: 'eth1' })).toMatchObject({
      success: false,
      error: 'No DHCP client found for plc1:eth1',
    });
  });

  it('reports a MAC that is not in the runtime instead of starting a client', async () => {
    const reply = await client.request({
      command: 'start_dhcp',
      container_name: 'plc2',
      vnic_name: 'eth9',
      mac_address: '02:00:00:00:99:99',
      container_pid: containerPid,
    });
    expect(reply).toMatchObject({
      success: false,
      error: 'Interface with MAC 02:00:00:00:99:99 not found in container after 10 retries',
    });
    expect(await status('plc2:eth9')).toBeUndefined();
  });

  it('does not restart into a runtime that is gone; it waits for its new PID', async () => {
    const runtimePid = await startContainerProcess();
    expect(
      await client.request({
        command: 'start_dhcp',
        container_name: 'plc3',
        vnic_name: 'eth2',
        mac_address: SPARE_MAC,
        container_pid: runtimePid,
      }),
    ).toMatchObject({ success: true, message: 'DHCP client started for t7c1' });
    const clientPid = Number((await status('plc3:eth2'))?.pid);
    // The runtime dies and Docker removes its vNIC: udhcpc loses its interface and exits.
    process.kill(runtimePid, 'SIGKILL');
    await ip('-n', CLI, 'link', 'del', 't7c1');
    const waiting = await eventually(
      async () => {
        const s = await status('plc3:eth2');
        return s?.state === 'waiting_for_container' ? s : undefined;
      },
      20_000,
      'the client to wait for its runtime',
    );
    expect(waiting).toMatchObject({ running: false, pid: 0, restarts: 0 });
    expect(String(waiting?.last_error)).toContain(`runtime process ${runtimePid} is gone`);
    expect(alive(clientPid)).toBe(false);
    expect(await client.request({ command: 'stop_dhcp', container_name: 'plc3', vnic_name: 'eth2' })).toMatchObject({
      success: true,
    });
  });
});

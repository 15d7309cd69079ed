import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../../sidecar/test/client.js';
import { type AgentProcess, ensureBuilt, startAgentProcess, agentArgs } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Issue 6 end to end, with real parts only: a veth pair whose host end `t10p0` is the MACVLAN parent and whose other
 * end lives in netns `t10-lan`, where busybox udhcpd serves the LAN; the built sidecar and the built agent as
 * processes; the test cloud. A DHCP vPLC gets a lease, follows the parent to a new subnet, and survives a sidecar
 * that is killed and started again.
 */

const sh = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SIDECAR_ENTRY = join(ROOT, 'dist/sidecar/src/main.js');
const PARENT = 't10p0';
const PEER = 't10q0';
const NETNS = 't10-lan';
const NAME = 't10-e2e-plc';
const isRoot = process.getuid?.() === 0;
const docker = isRoot ? await dockerOrSkip() : false;

type Reply = Record<string, unknown>;
type Lan = { prefix: string };
const OLD: Lan = { prefix: '10.240.0' };
const NEW: Lan = { prefix: '10.241.0' };
const networkOf = (lan: Lan) => `macvlan_${PARENT}_${lan.prefix}.0_24`;
const inPool = (lan: Lan, ip: unknown) =>
  typeof ip === 'string' &&
  ip.startsWith(`${lan.prefix}.`) &&
  Number(ip.split('.')[3]) >= 100 &&
  Number(ip.split('.')[3]) <= 150;

async function ip(...args: string[]): Promise<string> {
  return (await sh('ip', args, { timeout: 10_000 })).stdout;
}

async function removeFixtures(): Promise<void> {
  await sh('/usr/bin/docker', ['rm', '-f', NAME]).catch(() => {});
  for (const net of [`${NAME}_internal`, networkOf(OLD), networkOf(NEW)]) {
    await sh('/usr/bin/docker', ['network', 'rm', net]).catch(() => {});
  }
  await ip('link', 'del', PARENT).catch(() => {});
  await ip('netns', 'del', NETNS).catch(() => {});
}

/** The udhcpc processes that run inside the vPLC's network namespace (busybox's, started by the sidecar). */
async function udhcpcInContainer(containerPid: number): Promise<number[]> {
  const target = await readlink(`/proc/${containerPid}/ns/net`);
  const { stdout } = await sh('pgrep', ['-f', 'udhcpc']).catch(() => ({ stdout: '' }));
  const pids = stdout.split('\n').filter(Boolean).map(Number);
  const inside: number[] = [];
  for (const pid of pids) {
    const ns = await readlink(`/proc/${pid}/ns/net`).catch(() => '');
    if (ns === target) inside.push(pid);
  }
  return inside;
}

describe.skipIf(!docker)('DHCP vPLC on a real LAN: lease, subnet change, sidecar restart', () => {
  let dir: string;
  let pki: TestPki;
  let cloud: TestCloud;
  let agent: AgentProcess;
  let sidecar: ChildProcess | undefined;
  let udhcpd: ChildProcess | undefined;
  let sidecarOutput = '';
  const socket = () => join(dir, 'netmon.sock');

  const ask = (topic: string, payload: Reply, timeoutMs = 10_000) =>
    cloud.request(topic, payload, timeoutMs) as Promise<Reply>;
  const status = () => ask('get_device_status', { correlation_id: 1, device_id: NAME });
  const until = (predicate: (s: Reply) => boolean, what: string, timeoutMs = 60_000) =>
    waitFor(
      async () => {
        const s = await status();
        return predicate(s) ? s : undefined;
      },
      { timeoutMs, intervalMs: 250, message: what },
    );

  /** udhcpd in the LAN namespace, serving .100–.150 of `lan` with the peer (`.1`) as router. */
  async function serveLan(lan: Lan): Promise<void> {
    if (udhcpd && udhcpd.exitCode === null) {
      udhcpd.kill('SIGTERM');
      await new Promise((resolve) => udhcpd?.once('exit', resolve));
    }
    await ip('-n', NETNS, 'addr', 'flush', 'dev', PEER);
    await ip('-n', NETNS, 'addr', 'add', `${lan.prefix}.1/24`, 'dev', PEER);
    const conf = join(dir, `udhcpd-${lan.prefix}.conf`);
    await writeFile(join(dir, `udhcpd-${lan.prefix}.leases`), '');
    await writeFile(
      conf,
      [
        `start ${lan.prefix}.100`,
        `end ${lan.prefix}.150`,
        `interface ${PEER}`,
        `lease_file ${join(dir, `udhcpd-${lan.prefix}.leases`)}`,
        `pidfile ${join(dir, `udhcpd-${lan.prefix}.pid`)}`,
        'option subnet 255.255.255.0',
        `option router ${lan.prefix}.1`,
        `option dns ${lan.prefix}.53`,
        'option lease 600',
        '',
      ].join('\n'),
    );
    // -a 100: answer after a 100 ms ARP probe instead of 2 s.
    udhcpd = spawn('ip', ['netns', 'exec', NETNS, 'busybox', 'udhcpd', '-f', '-a', '100', conf], { stdio: 'ignore' });
  }

  async function startSidecar(): Promise<void> {
    sidecar = spawn(
      process.execPath,
      [
        SIDECAR_ENTRY,
        '--socket',
        socket(),
        '--data-dir',
        join(dir, 'netmon'),
        // No --dhcp-hook: the built sidecar must find its own hook, as the README's command runs it.
        '--sys-root',
        join(dir, 'no-sys'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    sidecar.stdout?.on('data', (d: Buffer) => {
      sidecarOutput += d.toString();
    });
    sidecar.stderr?.on('data', (d: Buffer) => {
      sidecarOutput += d.toString();
    });
    await waitFor(() => TestClient.connect(socket()).then((c) => c.close().then(() => true)), {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: `the sidecar socket; output:\n${sidecarOutput}`,
    });
  }

  /**
   * SIGKILL to the sidecar process alone — the harder case: its udhcpc clients outlive it, and the next sidecar
   * must end them before the agent's resync starts new ones (else two clients per vNIC).
   */
  async function killSidecar(opts: { withClients?: boolean } = {}): Promise<void> {
    const child = sidecar;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // The sidecar leads its own process group (detached): the negative PID takes its DHCP clients along.
    process.kill(opts.withClients ? -child.pid : child.pid, 'SIGKILL');
    await exited;
  }

  beforeAll(async () => {
    await removeFixtures();
    await ensureBuilt();
    const image = await ensureStandinImage();
    dir = await mkdtemp(join(tmpdir(), 't10-e2e-'));
    await ip('netns', 'add', NETNS);
    await ip('link', 'add', PARENT, 'type', 'veth', 'peer', 'name', PEER);
    await ip('link', 'set', PEER, 'netns', NETNS);
    await ip('-n', NETNS, 'link', 'set', PEER, 'up');
    await ip('link', 'set', PARENT, 'up');
    // The host end carries an address so the sidecar reports the parent with its subnet (subnet auto-detection);
    // .254 keeps clear of the .2 Docker's IPAM hands the first container.
    await ip('addr', 'add', `${OLD.prefix}.254/24`, 'dev', PARENT);
    await serveLan(OLD);
    await startSidecar();
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    agent = await startAgentProcess([
      ...agentArgs({ cloudUrl: cloud.url, pki, image, parentInterfaces: [PARENT] }),
      '--netmon-socket',
      socket(),
    ]);
    await waitFor(() => cloud.connectionCount() === 1, {
      timeoutMs: 30_000,
      message: `agent connection; output:\n${agent?.output()}`,
    });
  }, 240_000);

  afterAll(async () => {
    await agent?.stop();
    await killSidecar({ withClients: true });
    if (udhcpd && udhcpd.exitCode === null) udhcpd.kill('SIGTERM');
    await cloud?.close();
    await pki?.cleanup();
    await removeFixtures();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('leases, moves to the new subnet and resyncs after a sidecar restart', async () => {
    const started = Date.now();
    // 1. A DHCP vPLC without a subnet: the parent's subnet comes from the sidecar's interface cache.
    expect(
      await ask('create_new_runtime', {
        correlation_id: 600,
        container_name: NAME,
        vnic_configs: [{ name: 'eth0', parent_interface: PARENT, network_mode: 'dhcp' }],
      }),
    ).toMatchObject({ status: 'creating', container_id: NAME });
    const leased = await until(
      (s) => s.state === 'running' && inPool(OLD, (s.networks as Record<string, Reply>)?.[networkOf(OLD)]?.ip_address),
      `a lease from ${OLD.prefix}.0/24 in get_device_status`,
    );
    const oldEndpoint = (leased.networks as Record<string, Reply>)[networkOf(OLD)];
    expect(oldEndpoint).toMatchObject({ gateway: `${OLD.prefix}.1` });
    const leaseAt = Date.now();

    // 2. The parent moves to another subnet: the sidecar reports it after its 3 s debounce.
    const observer = await TestClient.connect(socket());
    await observer.event('network_discovery');
    await serveLan(NEW);
    const changedAt = Date.now();
    await ip('addr', 'flush', 'dev', PARENT);
    await ip('addr', 'add', `${NEW.prefix}.254/24`, 'dev', PARENT);
    const change = await observer.event(
      'network_change',
      (d) => d.interface === PARENT && JSON.stringify(d.ipv4_addresses).includes(`${NEW.prefix}.0/24`),
      10_000,
    );
    const changeLatencyMs = Date.now() - changedAt;
    expect(change.data).toMatchObject({ status: 'up' });
    expect(changeLatencyMs).toBeLessThanOrEqual(3_000 + 1_000);

    const moved = await until(
      (s) => s.state === 'running' && inPool(NEW, (s.networks as Record<string, Reply>)?.[networkOf(NEW)]?.ip_address),
      `a lease from ${NEW.prefix}.0/24 on ${networkOf(NEW)}`,
    );
    const movedAt = Date.now();
    expect(Object.keys(moved.networks as Reply)).toEqual([networkOf(NEW)]);
    const { stdout: nets } = await sh('/usr/bin/docker', ['network', 'ls', '--format', '{{.Name}}']);
    expect(nets.split('\n')).toContain(networkOf(NEW));
    expect(nets.split('\n')).not.toContain(networkOf(OLD));
    // The vNIC kept its MAC (Docker cannot choose it on connect; the sidecar set it back before DHCP): the new lease
    // was asked for with it, get_device_status reports it, and the interface really has it.
    const keptMac = String(oldEndpoint?.mac_address);
    expect((moved.networks as Record<string, Reply>)[networkOf(NEW)]?.mac_address).toBe(keptMac);
    expect(String(moved.last_error ?? '')).not.toContain('now has MAC');
    const inspect = JSON.parse((await sh('/usr/bin/docker', ['inspect', NAME])).stdout) as Array<{
      State: { Pid: number };
      NetworkSettings: { Networks: Record<string, { MacAddress: string }> };
    }>;
    const containerPid = inspect[0]!.State.Pid;
    // Docker still shows the MAC it assigned on connect.
    expect(inspect[0]!.NetworkSettings.Networks[networkOf(NEW)]?.MacAddress).not.toBe(keptMac);
    const links = JSON.parse(
      (await sh('nsenter', ['-t', String(containerPid), '-n', '--', 'ip', '-json', 'link', 'show'])).stdout,
    ) as Array<{ address?: string }>;
    expect(links.map((l) => l.address)).toContain(keptMac);

    // 3. The sidecar is killed and started again: the agent reconnects and asks for the lease again, once.
    expect(await udhcpcInContainer(containerPid)).toHaveLength(1);
    await observer.close();
    await killSidecar();
    // Its client outlives it; the next sidecar ends it before the agent's resync starts a new one.
    expect(await udhcpcInContainer(containerPid)).toHaveLength(1);
    await startSidecar();
    const restartedAt = Date.now();
    const client = await TestClient.connect(socket());
    const key = `${NAME}:eth0`;
    const resynced = await waitFor(
      async () => {
        const reply = await client.request({ command: 'get_dhcp_status' }, 5_000);
        const clients = reply.status as Record<string, Reply>;
        return clients[key]?.running === true && clients[key]?.state === 'running' ? clients : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, message: 'the agent to start the DHCP client again' },
    );
    const resyncMs = Date.now() - restartedAt;
    expect(Object.keys(resynced)).toEqual([key]);
    expect(resynced[key]).toMatchObject({ container_pid: containerPid, state: 'running', mac_address: keptMac });
    // No second client, and no second start: the agent asked once (a repeat would be a no-op, never a second client).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await udhcpcInContainer(containerPid)).toHaveLength(1);
    const again = (await client.request({ command: 'get_dhcp_status' })).status as Record<string, Reply>;
    expect(again[key]).toMatchObject({ pid: resynced[key]?.pid, restarts: 0 });
    await client.close();
    const after = await until(
      (s) => inPool(NEW, (s.networks as Record<string, Reply>)?.[networkOf(NEW)]?.ip_address),
      'the lease still shown after the resync',
    );
    expect(after.state).toBe('running');

    const leaseFile = JSON.parse(await readFile(join(dir, 'netmon', 'dhcp', `${NAME}_eth0.lease`), 'utf8')) as Reply;
    expect(inPool(NEW, leaseFile.ip)).toBe(true);
    console.info(
      `[t10] create→lease ${leaseAt - started} ms; network_change after ${changeLatencyMs} ms; ` +
        `change→moved with new lease ${movedAt - changedAt} ms; sidecar restart→DHCP resynced ${resyncMs} ms`,
    );

    expect(await ask('delete_device', { correlation_id: 601, device_id: NAME })).toMatchObject({ status: 'deleting' });
    await until((s) => s.status === 'not_found', 'not_found');
    const { stdout: left } = await sh('/usr/bin/docker', ['network', 'ls', '--format', '{{.Name}}']);
    expect(left.split('\n')).not.toContain(networkOf(NEW));
  }, 180_000);
});

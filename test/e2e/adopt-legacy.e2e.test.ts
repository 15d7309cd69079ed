import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, ensureBuilt, startAgentProcess, agentArgs } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureVeth, removeTestObjects, removeVeth } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * A host exactly as the Python agent leaves it: runtime containers without labels and with restart policy
 * `always`, `<name>_internal` internal bridges, a MACVLAN network named `macvlan_<parent>_<cidr>`, and the three
 * JSON files in the old agent's formats. The new agent must adopt every runtime without disturbing it.
 */
const sh = promisify(execFile);
const docker = await dockerOrSkip();
const DOCKER = '/usr/bin/docker';
const PARENT = 't9p1';
const SUBNET = '10.239.2';
const MACVLAN = `macvlan_${PARENT}_${SUBNET}.0_24`;
const RUNTIMES = [
  { name: 't9-leg1', ip: `${SUBNET}.11`, mac: '02:42:0a:ef:02:0b' },
  { name: 't9-leg2', ip: `${SUBNET}.12`, mac: '02:42:0a:ef:02:0c' },
];

type Reply = Record<string, unknown>;
/** Our keys only: while other test files run, this agent adopts their labelled runtimes too (as it must). */
const ours = (record: Record<string, unknown>) => Object.keys(record).filter((k) => k.startsWith('t9-'));
interface Inspected {
  Id: string;
  State: { Running: boolean; StartedAt: string };
  Config: { Labels: Record<string, string> | null };
  HostConfig: { RestartPolicy: { Name: string } };
  NetworkSettings: { Networks: Record<string, { IPAddress: string; MacAddress: string }> };
}

describe.skipIf(!docker)('adopting the runtimes of the old agent', () => {
  let pki: TestPki;
  let cloud: TestCloud;
  let image: string;
  let dataDir: string;
  let agent: AgentProcess | undefined;
  let correlation = 2000;
  const before = new Map<string, Inspected>();

  const dockerCli = async (...args: string[]) => (await sh(DOCKER, args)).stdout.trim();
  const inspect = async (name: string) => JSON.parse(await dockerCli('inspect', name))[0] as Inspected;
  const ask = (topic: string, payload: Record<string, unknown>, timeoutMs = 10_000) =>
    cloud.request(topic, { correlation_id: correlation++, ...payload }, timeoutMs) as Promise<Reply>;
  const status = (name: string) => ask('get_device_status', { device_id: name });
  const networks = async () => (await dockerCli('network', 'ls', '--format', '{{.Name}}')).split('\n');

  beforeAll(async () => {
    await ensureBuilt();
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    image = await ensureStandinImage();
    await removeTestObjects('/var/run/docker.sock', 't9-leg', ['t9-leg', `macvlan_${PARENT}_`]);
    await ensureVeth(PARENT, 't9q1');

    // What the old agent did for each create: no labels, restart policy always.
    await dockerCli(
      'network',
      'create',
      '-d',
      'macvlan',
      '--subnet',
      `${SUBNET}.0/24`,
      '--gateway',
      `${SUBNET}.1`,
      '-o',
      `parent=${PARENT}`,
      MACVLAN,
    );
    for (const r of RUNTIMES) {
      await dockerCli('network', 'create', '--internal', `${r.name}_internal`);
      await dockerCli(
        'create',
        '--name',
        r.name,
        '--restart',
        'always',
        '--network',
        MACVLAN,
        '--ip',
        r.ip,
        '--mac-address',
        r.mac,
        '--cap-add',
        'SYS_NICE',
        '--cap-add',
        'MKNOD',
        image,
      );
      await dockerCli('network', 'connect', `${r.name}_internal`, r.name);
      await dockerCli('start', r.name);
      before.set(r.name, await inspect(r.name));
    }

    // The three files, byte for byte as the old agent writes them.
    dataDir = await mkdtemp(join(tmpdir(), 't9-legacy-'));
    await mkdir(join(dataDir, 'data'), { recursive: true });
    const clients = Object.fromEntries(
      RUNTIMES.map((r) => [
        r.name,
        { ip: before.get(r.name)!.NetworkSettings.Networks[`${r.name}_internal`]!.IPAddress, name: r.name },
      ]),
    );
    const vnics = Object.fromEntries(
      RUNTIMES.map((r) => [
        r.name,
        [
          {
            name: 'eth0',
            parent_interface: PARENT,
            network_mode: 'static',
            ip: r.ip,
            subnet: `${SUBNET}.0/24`,
            gateway: `${SUBNET}.1`,
            dns: ['8.8.8.8'],
            mac: r.mac,
            mac_address: r.mac,
            docker_network_name: MACVLAN,
          },
        ],
      ]),
    );
    const serials = {
      't9-leg2': {
        serial_ports: [
          {
            name: 'modbus_rtu',
            device_id: 'usb-FTDI_FT232R_USB_UART_T9-if00-port0',
            container_path: '/dev/modbus0',
            status: 'disconnected',
            current_host_path: null,
            major: null,
            minor: null,
          },
        ],
      },
    };
    await writeFile(join(dataDir, 'data', 'clients.json'), JSON.stringify(clients, null, 4));
    await writeFile(join(dataDir, 'runtime_vnics.json'), JSON.stringify(vnics, null, 2));
    await writeFile(join(dataDir, 'data', 'serial_configs.json'), JSON.stringify(serials, null, 2));

    const args = agentArgs({ cloudUrl: cloud.url, pki, image, parentInterfaces: [PARENT] });
    agent = await startAgentProcess(args, { ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock' }, { dataDir });
    await waitFor(() => cloud.connectionCount() === 1, {
      timeoutMs: 60_000,
      message: `agent connection; output:\n${agent?.output().slice(-3000)}`,
    });
  }, 300_000);

  afterAll(async () => {
    await agent?.stop();
    await cloud?.close();
    await pki?.cleanup();
    await removeTestObjects('/var/run/docker.sock', 't9-leg', ['t9-leg', `macvlan_${PARENT}_`]);
    await removeVeth(PARENT);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('reports every runtime running, without restarting it, and switches its restart policy to no', async () => {
    for (const r of RUNTIMES) {
      const s = await waitFor(
        async () => {
          const reply = await status(r.name);
          return reply.status === 'success' && reply.is_running === true && reply.state === 'running' && reply;
        },
        { timeoutMs: 30_000, intervalMs: 250, message: `${r.name} adopted and running` },
      );
      expect(s.networks).toMatchObject({ [MACVLAN]: { ip_address: r.ip, mac_address: r.mac } });
      const now = await inspect(r.name);
      expect(now.Id).toBe(before.get(r.name)!.Id);
      expect(now.State.StartedAt).toBe(before.get(r.name)!.State.StartedAt);
      expect(now.HostConfig.RestartPolicy.Name).toBe('no');
      // Labels cannot be added to a container; they arrive with the next recreate.
      expect(now.Config.Labels?.['edge.autonomy.managed']).toBeUndefined();
    }
    const serial = (await status('t9-leg2')).serial_ports;
    expect(serial).toEqual([expect.objectContaining({ name: 'modbus_rtu', container_path: '/dev/modbus0' })]);
  }, 60_000);

  it('reaches an adopted runtime with run_command', async () => {
    const reply = await ask('run_command', { device_id: 't9-leg1', method: 'GET', api: '/api/status' }, 40_000);
    expect(reply).toMatchObject({
      status: 'success',
      http_response: { status_code: 200, body: { status: 'RUNNING' } },
    });
  }, 60_000);

  it("keeps the files in the old agent's formats, so going back to the old agent still works", async () => {
    const clientsText = await readFile(join(dataDir, 'data', 'clients.json'), 'utf8');
    const clients = JSON.parse(clientsText);
    expect(clientsText).toBe(JSON.stringify(clients, null, 4));
    for (const r of RUNTIMES) {
      expect(clients[r.name]).toEqual({
        ip: (await inspect(r.name)).NetworkSettings.Networks[`${r.name}_internal`]!.IPAddress,
        name: r.name,
      });
    }
    const vnicsText = await readFile(join(dataDir, 'runtime_vnics.json'), 'utf8');
    const vnics = JSON.parse(vnicsText);
    expect(vnicsText).toBe(JSON.stringify(vnics, null, 2));
    expect(vnics['t9-leg1']).toEqual([
      {
        name: 'eth0',
        parent_interface: PARENT,
        network_mode: 'static',
        ip: `${SUBNET}.11`,
        subnet: `${SUBNET}.0/24`,
        gateway: `${SUBNET}.1`,
        dns: ['8.8.8.8'],
        mac: '02:42:0a:ef:02:0b',
        mac_address: '02:42:0a:ef:02:0b',
        docker_network_name: MACVLAN,
      },
    ]);
    const serialsText = await readFile(join(dataDir, 'data', 'serial_configs.json'), 'utf8');
    expect(serialsText).toBe(JSON.stringify(JSON.parse(serialsText), null, 2));
    expect(ours(JSON.parse(serialsText))).toEqual(['t9-leg2']);
  });

  it('deletes adopted runtimes with their networks and records', async () => {
    expect(await ask('delete_device', { device_id: 't9-leg1' })).toMatchObject({ status: 'deleting' });
    await waitFor(async () => (await status('t9-leg1')).status === 'not_found', {
      timeoutMs: 60_000,
      intervalMs: 250,
      message: 't9-leg1 deleted',
    });
    expect(await dockerCli('ps', '-a', '--filter', 'name=^t9-leg1$', '--format', '{{.Names}}')).toBe('');
    expect(await networks()).not.toContain('t9-leg1_internal');
    // Still used by t9-leg2.
    expect(await networks()).toContain(MACVLAN);

    expect(await ask('delete_device', { device_id: 't9-leg2' })).toMatchObject({ status: 'deleting' });
    await waitFor(async () => (await status('t9-leg2')).status === 'not_found', {
      timeoutMs: 60_000,
      intervalMs: 250,
      message: 't9-leg2 deleted',
    });
    await waitFor(async () => !(await networks()).some((n) => n.startsWith('t9-leg') || n === MACVLAN), {
      timeoutMs: 20_000,
      message: 'the old agent networks removed',
    });
    await waitFor(
      async () => {
        const clients = JSON.parse(await readFile(join(dataDir, 'data', 'clients.json'), 'utf8'));
        const vnics = JSON.parse(await readFile(join(dataDir, 'runtime_vnics.json'), 'utf8'));
        const serials = JSON.parse(await readFile(join(dataDir, 'data', 'serial_configs.json'), 'utf8'));
        return ours(clients).length === 0 && ours(vnics).length === 0 && ours(serials).length === 0;
      },
      { timeoutMs: 10_000, message: 'records removed' },
    );
  }, 150_000);
});

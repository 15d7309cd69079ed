import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, ensureBuilt, startAgentProcess, agentArgs } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { ensureVeth, removeTestObjects, removeVeth, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * dockerd restarted under five running vPLCs. The second engine (26.1) is restarted, so the machine's main
 * dockerd, which other test files use, is never touched. With restart policy `no` the engine brings nothing
 * back by itself: the agent must notice the outage (and say so in get_device_status), reconnect to the engine
 * and its event stream, and start every vPLC again. Then the engine is restarted right after deletes were accepted:
 * each delete ends consistently — done, or failed with a sentence and done by a second delete once the engine is
 * back — and nothing of the vPLCs is left in Docker.
 */
const sh = promisify(execFile);
const engines = await testEngines();
const engine26 = engines.find((e) => e.label === '26');
const SOCKET = '/opt/docker26/docker.sock';
const PID_FILE = '/opt/docker26/docker.pid';
const START_SCRIPT = fileURLToPath(new URL('../../scripts/start-docker26.sh', import.meta.url));
const PARENT = 't9p2';
const SUBNET = '10.239.3';
const NAMES = ['t9-r1', 't9-r2', 't9-r3', 't9-r4', 't9-r5'];
const DELETED_NAMES = ['t9-d1', 't9-d2'];
const docker26 = (...args: string[]) => sh('/usr/bin/docker', ['-H', `unix://${SOCKET}`, ...args]);

type Reply = Record<string, unknown>;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(!engine26)('dockerd restarted under running vPLCs and during deletes', () => {
  let pki: TestPki;
  let cloud: TestCloud;
  let agent: AgentProcess | undefined;
  let correlation = 3000;

  const ask = (topic: string, payload: Record<string, unknown>, timeoutMs = 10_000) =>
    cloud.request(topic, { correlation_id: correlation++, ...payload }, timeoutMs) as Promise<Reply>;
  const status = (name: string) => ask('get_device_status', { device_id: name });
  const isRunning = (s: Reply) => s.status === 'success' && s.is_running === true && s.state === 'running';

  beforeAll(async () => {
    await ensureBuilt();
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    const image = await ensureStandinImage(SOCKET);
    await removeTestObjects(SOCKET, 't9-', ['t9-', `macvlan_${PARENT}_`]);
    await ensureVeth(PARENT, 't9q2');
    const args = agentArgs({ cloudUrl: cloud.url, pki, image, parentInterfaces: [PARENT] });
    agent = await startAgentProcess(args, {
      ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock',
      DOCKER_HOST: `unix://${SOCKET}`,
    });
    await waitFor(() => cloud.connectionCount() === 1, {
      timeoutMs: 60_000,
      message: `agent connection; output:\n${agent?.output().slice(-3000)}`,
    });
  }, 300_000);

  afterAll(async () => {
    await agent?.stop();
    await cloud?.close();
    await pki?.cleanup();
    // Whatever happened, leave the engine running for the next test file.
    await sh('bash', [START_SCRIPT], { timeout: 60_000 }).catch(() => undefined);
    await removeTestObjects(SOCKET, 't9-', ['t9-', `macvlan_${PARENT}_`]).catch(() => undefined);
    await removeVeth(PARENT);
  }, 120_000);

  it('reports the outage, reconnects and brings every vPLC back to running', async () => {
    for (const [i, name] of NAMES.entries()) {
      const created = await ask('create_new_runtime', {
        container_name: name,
        vnic_configs: [
          {
            name: 'eth0',
            parent_interface: PARENT,
            network_mode: 'static',
            ip: `${SUBNET}.${20 + i}`,
            subnet: `${SUBNET}.0/24`,
            gateway: `${SUBNET}.1`,
          },
        ],
      });
      expect(created).toMatchObject({ status: 'creating' });
    }
    for (const name of NAMES) {
      await waitFor(async () => isRunning(await status(name)), {
        timeoutMs: 90_000,
        intervalMs: 250,
        message: `${name} running`,
      });
    }

    // `systemctl restart docker`: SIGTERM (the engine stops its containers), then the same command line again.
    const pid = Number.parseInt(await readFile(PID_FILE, 'utf8'), 10);
    process.kill(pid, 'SIGTERM');
    const outage = await waitFor(
      async () => {
        const reply = await status(NAMES[0]!);
        return typeof reply.error === 'string' && /Docker engine unavailable/.test(reply.error) && reply;
      },
      { timeoutMs: 30_000, intervalMs: 200, message: 'get_device_status reporting the outage' },
    );
    expect(outage).toMatchObject({ status: 'error', device_id: NAMES[0] });
    await waitFor(() => !alive(pid), { timeoutMs: 30_000, message: 'dockerd exited' });
    await sh('bash', [START_SCRIPT], { timeout: 60_000 });

    for (const name of NAMES) {
      await waitFor(async () => isRunning(await status(name)), {
        timeoutMs: 90_000,
        intervalMs: 250,
        message: `${name} running again after the dockerd restart; agent output:\n${agent?.output().slice(-2000)}`,
      });
    }
    const { stdout } = await sh('/usr/bin/docker', [
      '-H',
      `unix://${SOCKET}`,
      'ps',
      '--filter',
      'name=t9-r',
      '--filter',
      'status=running',
      '--format',
      '{{.Names}}',
    ]);
    expect(stdout.trim().split('\n').sort()).toEqual(NAMES);
    // Every vPLC was brought back by the agent's watchdog, not by the engine.
    for (const name of NAMES) expect((await status(name)).restart_count).toBeGreaterThanOrEqual(1);

    for (const name of NAMES)
      expect(await ask('delete_device', { device_id: name })).toMatchObject({ status: 'deleting' });
    for (const name of NAMES) {
      await waitFor(async () => (await status(name)).status === 'not_found', {
        timeoutMs: 60_000,
        intervalMs: 250,
        message: `${name} deleted`,
      });
    }
  }, 300_000);

  it('ends every delete consistently and leaves nothing of the vPLCs behind', async () => {
    for (const [i, name] of DELETED_NAMES.entries()) {
      const vnic = {
        name: 'eth0',
        parent_interface: PARENT,
        network_mode: 'static',
        ip: `${SUBNET}.${40 + i}`,
        subnet: `${SUBNET}.0/24`,
        gateway: `${SUBNET}.1`,
      };
      expect(await ask('create_new_runtime', { container_name: name, vnic_configs: [vnic] })).toMatchObject({
        status: 'creating',
      });
    }
    for (const name of DELETED_NAMES) {
      await waitFor(async () => (await status(name)).state === 'running', { timeoutMs: 90_000, message: name });
    }
    for (const name of DELETED_NAMES) {
      expect(await ask('delete_device', { device_id: name })).toMatchObject({ status: 'deleting' });
    }
    const pid = Number.parseInt(await readFile(PID_FILE, 'utf8'), 10);
    process.kill(pid, 'SIGTERM');
    // The old engine must be gone before the new one starts: on exit it removes the pid file the new one wrote.
    await waitFor(() => !alive(pid), { timeoutMs: 30_000, message: 'dockerd exited' });
    await sh('bash', [START_SCRIPT], { timeout: 60_000 });

    for (const name of DELETED_NAMES) {
      const settled = await waitFor(
        async () => {
          const s = await status(name);
          return s.status === 'not_found' || s.state === 'failed' ? s : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 250, message: `${name}'s delete to settle` },
      );
      if (settled.status !== 'not_found') {
        expect(String(settled.error ?? settled.last_error)).toMatch(/delete|remove|Docker/i);
        expect(await ask('delete_device', { device_id: name })).toMatchObject({ status: 'deleting' });
        await waitFor(async () => (await status(name)).status === 'not_found', {
          timeoutMs: 60_000,
          message: `${name} deleted the second time`,
        });
      }
    }
    const { stdout: containers } = await docker26('ps', '-a', '--filter', 'name=t9-d', '--format', '{{.Names}}');
    expect(containers.trim()).toBe('');
    const { stdout: networks } = await docker26('network', 'ls', '--format', '{{.Name}}');
    expect(networks.split('\n').filter((n) => n.startsWith('t9-d'))).toEqual([]);
  }, 300_000);
});

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, agentArgs, ensureBuilt, startAgentProcess } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { ensureVeth, removeTestObjects, removeVeth, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Chaos on the engine: dockerd (the second engine, never the machine's main one) is restarted right after deletes
 * were accepted. Each delete ends consistently — done, or failed with a sentence and done by a second delete once
 * the engine is back — and nothing of the vPLCs is left in Docker.
 */
const sh = promisify(execFile);
const engines = await testEngines();
const engine26 = engines.find((e) => e.label === '26');
const SOCKET = '/opt/docker26/docker.sock';
const PID_FILE = '/opt/docker26/docker.pid';
const START_SCRIPT = fileURLToPath(new URL('../../scripts/start-docker26.sh', import.meta.url));
const PARENT = 'cdp0';
const SUBNET = '10.234.0';
const NAMES = ['cd-r1', 'cd-r2'];
type Reply = Record<string, unknown>;

describe.skipIf(!engine26)('dockerd restarted while vPLCs are being deleted', () => {
  let pki: TestPki;
  let cloud: TestCloud;
  let agent: AgentProcess | undefined;
  let correlation = 4000;
  const ask = (topic: string, payload: Record<string, unknown>) =>
    cloud.request(topic, { correlation_id: correlation++, ...payload }, 10_000) as Promise<Reply>;
  const status = (name: string) => ask('get_device_status', { device_id: name });
  const docker26 = (...args: string[]) => sh('/usr/bin/docker', ['-H', `unix://${SOCKET}`, ...args]);

  beforeAll(async () => {
    await ensureBuilt();
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    const image = await ensureStandinImage(SOCKET);
    await removeTestObjects(SOCKET, 'cd-r', ['cd-r', `macvlan_${PARENT}_`]);
    await ensureVeth(PARENT, 'cdq0');
    agent = await startAgentProcess(agentArgs({ cloudUrl: cloud.url, pki, image }), {
      ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock',
      DOCKER_HOST: `unix://${SOCKET}`,
    });
    await waitFor(() => cloud.connectionCount() === 1, { timeoutMs: 60_000, message: 'agent connection' });
  }, 300_000);

  afterAll(async () => {
    await agent?.stop();
    await cloud?.close();
    await pki?.cleanup();
    await sh('bash', [START_SCRIPT], { timeout: 60_000 }).catch(() => undefined);
    await removeTestObjects(SOCKET, 'cd-r', ['cd-r', `macvlan_${PARENT}_`]).catch(() => undefined);
    await removeVeth(PARENT);
  }, 120_000);

  it('ends every delete consistently and leaves nothing of the vPLCs behind', async () => {
    for (const [i, name] of NAMES.entries()) {
      const vnic = {
        name: 'eth0',
        parent_interface: PARENT,
        network_mode: 'static',
        ip: `${SUBNET}.${20 + i}`,
        subnet: `${SUBNET}.0/24`,
        gateway: `${SUBNET}.1`,
      };
      expect(await ask('create_new_runtime', { container_name: name, vnic_configs: [vnic] })).toMatchObject({
        status: 'creating',
      });
    }
    for (const name of NAMES) {
      await waitFor(async () => (await status(name)).state === 'running', { timeoutMs: 90_000, message: name });
    }
    for (const name of NAMES) {
      expect(await ask('delete_device', { device_id: name })).toMatchObject({ status: 'deleting' });
    }
    const pid = Number.parseInt(await readFile(PID_FILE, 'utf8'), 10);
    process.kill(pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 2_000));
    await sh('bash', [START_SCRIPT], { timeout: 60_000 });

    for (const name of NAMES) {
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
    const { stdout: containers } = await docker26('ps', '-a', '--filter', 'name=cd-r', '--format', '{{.Names}}');
    expect(containers.trim()).toBe('');
    const { stdout: networks } = await docker26('network', 'ls', '--format', '{{.Name}}');
    expect(networks.split('\n').filter((n) => n.startsWith('cd-r') || n.includes(`_${PARENT}_`))).toEqual([]);
  }, 300_000);
});

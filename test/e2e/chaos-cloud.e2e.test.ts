import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, agentArgs, startAgentProcess } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Chaos on the cloud link: the cloud server is stopped and started again over and over while a create and a delete
 * run. The work goes on underneath; the vPLC ends running (then deleted), the outcome events reach the cloud once it
 * is back, nothing is left in Docker, and the agent keeps exactly one connection.
 */
const sh = promisify(execFile);
const docker = await dockerOrSkip();
type Reply = Record<string, unknown>;

describe.skipIf(!docker)('the cloud restarting again and again during a create and a delete', () => {
  const parent = 'chp0';
  const name = 'chaos-plc-1';
  const macvlan = 'macvlan_chp0_10.233.0.0_24';
  let pki: TestPki;
  let cloud: TestCloud;
  let agent: AgentProcess;
  const ask = (topic: string, payload: unknown) => cloud.request(topic, payload, 10_000) as Promise<Reply>;
  const status = () => ask('get_device_status', { correlation_id: 1, device_id: name });
  const connected = () =>
    waitFor(() => cloud.connectionCount() === 1, { timeoutMs: 45_000, message: 'the agent back on the cloud' });

  /** Stops the cloud for a moment, `times` times, while the agent works. */
  async function flap(times: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      await cloud.stop();
      await new Promise((r) => setTimeout(r, 300 + 200 * i));
      await cloud.restart();
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  beforeAll(async () => {
    const image = await ensureStandinImage();
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    await sh('ip', ['link', 'del', parent]).catch(() => {});
    await sh('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', 'chq0']);
    await sh('ip', ['link', 'set', parent, 'up']);
    agent = await startAgentProcess(
      [...agentArgs({ cloudUrl: cloud.url, pki, image, parentInterfaces: [parent] }), '--log-level', 'warn'],
      {
        ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock',
      },
    );
    await connected();
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await sh('/usr/bin/docker', ['rm', '-f', name]).catch(() => {});
    await sh('/usr/bin/docker', ['network', 'rm', `${name}_internal`, macvlan]).catch(() => {});
    await sh('ip', ['link', 'del', parent]).catch(() => {});
    await cloud?.close();
    await pki?.cleanup();
  });

  it('finishes the create and the delete underneath, reports them once back, and leaves nothing behind', async () => {
    const created = await ask('create_new_runtime', {
      correlation_id: 21,
      container_name: name,
      vnic_configs: [
        {
          name: 'eth0',
          parent_interface: parent,
          network_mode: 'static',
          ip: '10.233.0.50',
          subnet: '10.233.0.0/24',
          gateway: '10.233.0.1',
        },
      ],
    });
    expect(created).toMatchObject({ status: 'creating', correlation_id: 21 });
    await flap(5);
    await connected();
    await waitFor(async () => (await status()).state === 'running', { timeoutMs: 90_000, message: 'running' });
    expect(await ask('stop_device', { correlation_id: 22, device_id: name })).toMatchObject({ status: 'accepted' });
    await flap(3);
    await connected();
    // The completion event was emitted while the cloud may have been away: it arrives once it is back.
    const stopped = await cloud.waitForEvent('stop_device', (p) => (p as Reply).correlation_id === 22, 60_000);
    expect(stopped.payload).toMatchObject({ success: true, device_id: name });
    expect(await ask('delete_device', { correlation_id: 23, device_id: name })).toMatchObject({ status: 'deleting' });
    await flap(3);
    await connected();
    await waitFor(async () => (await status()).status === 'not_found', { timeoutMs: 60_000, message: 'deleted' });
    const { stdout: containers } = await sh('/usr/bin/docker', ['ps', '-a', '--format', '{{.Names}}']);
    expect(containers.split('\n')).not.toContain(name);
    const { stdout: networks } = await sh('/usr/bin/docker', ['network', 'ls', '--format', '{{.Name}}']);
    expect(networks.split('\n')).not.toContain(`${name}_internal`);
    expect(networks.split('\n')).not.toContain(macvlan);
    // One live connection, and heartbeats flowing on it.
    expect(cloud.connectionCount()).toBe(1);
    const before = cloud.heartbeats.length;
    await cloud.waitForHeartbeats(before + 1, 15_000);
  }, 300_000);
});

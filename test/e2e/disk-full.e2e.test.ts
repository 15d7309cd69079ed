import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, agentArgs, startAgentProcess } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * A full disk during a create: the journal cannot record the step, so the step never starts. The create fails with
 * a sentence that says why, nothing is left in Docker, the agent keeps answering, and once space is free the same
 * vPLC can be created and deleted.
 */
const sh = promisify(execFile);
const docker = await dockerOrSkip();
type Reply = Record<string, unknown>;

describe.skipIf(!docker)('a full data disk during a create', () => {
  const parent = 'dfp0';
  const name = 'df-plc-1';
  let pki: TestPki;
  let cloud: TestCloud;
  let agent: AgentProcess;
  let mount: string;
  const ask = (topic: string, payload: unknown) => cloud.request(topic, payload, 10_000) as Promise<Reply>;
  const status = () => ask('get_device_status', { correlation_id: 1, device_id: name });

  beforeAll(async () => {
    const image = await ensureStandinImage();
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    mount = await mkdtemp(join(tmpdir(), 'df-data-'));
    await sh('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount]);
    await sh('ip', ['link', 'del', parent]).catch(() => {});
    await sh('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', 'dfq0']);
    await sh('ip', ['link', 'set', parent, 'up']);
    agent = await startAgentProcess(
      [...agentArgs({ cloudUrl: cloud.url, pki, image, parentInterfaces: [parent] }), '--log-level', 'error'],
      { ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock' },
      { dataDir: mount },
    );
    await waitFor(() => cloud.connectionCount() === 1, { timeoutMs: 30_000, message: 'agent connection' });
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await sh('/usr/bin/docker', ['rm', '-f', name]).catch(() => {});
    await sh('/usr/bin/docker', ['network', 'rm', `${name}_internal`, 'macvlan_dfp0_10.232.0.0_24']).catch(() => {});
    await sh('ip', ['link', 'del', parent]).catch(() => {});
    if (mount) {
      await sh('umount', [mount]).catch(() => {});
      await rm(mount, { recursive: true, force: true });
    }
    await cloud?.close();
    await pki?.cleanup();
  });

  it('refuses to start a step it cannot journal, leaves nothing in Docker, and recovers once space is free', async () => {
    // Fill the disk to the last byte.
    const filler = join(mount, 'filler');
    await mkdir(filler, { recursive: true });
    await sh('sh', ['-c', `dd if=/dev/zero of=${filler}/zeros bs=4k 2>/dev/null || true`]);
    const create = {
      correlation_id: 11,
      container_name: name,
      vnic_configs: [
        {
          name: 'eth0',
          parent_interface: parent,
          network_mode: 'static',
          ip: '10.232.0.50',
          subnet: '10.232.0.0/24',
          gateway: '10.232.0.1',
        },
      ],
    };
    expect(await ask('create_new_runtime', create)).toMatchObject({ status: 'creating' });
    const failed = await waitFor(
      async () => {
        const s = await status();
        return s.status === 'error' || s.status === 'not_found' ? s : undefined;
      },
      { timeoutMs: 90_000, message: 'the create to fail' },
    );
    expect(String(failed.error ?? failed.last_error ?? '')).toMatch(/could not record the operation.*no space left/i);
    const { stdout: containers } = await sh('/usr/bin/docker', ['ps', '-a', '--format', '{{.Names}}']);
    expect(containers.split('\n')).not.toContain(name);
    const { stdout: networks } = await sh('/usr/bin/docker', ['network', 'ls', '--format', '{{.Name}}']);
    expect(networks.split('\n')).not.toContain(`${name}_internal`);
    expect(networks.split('\n')).not.toContain('macvlan_dfp0_10.232.0.0_24');
    // Still answering.
    expect(await ask('get_serial_devices', { correlation_id: 12 })).toMatchObject({ correlation_id: 12 });

    await rm(filler, { recursive: true, force: true });
    await writeFile(join(mount, 'probe'), 'space is back');
    await ask('delete_device', { correlation_id: 13, device_id: name });
    await waitFor(async () => (await status()).status === 'not_found', { timeoutMs: 60_000, message: 'forgotten' });
    expect(await ask('create_new_runtime', { ...create, correlation_id: 14 })).toMatchObject({ status: 'creating' });
    await waitFor(async () => (await status()).state === 'running', { timeoutMs: 90_000, message: 'running' });
    await ask('delete_device', { correlation_id: 15, device_id: name });
    await waitFor(async () => (await status()).status === 'not_found', { timeoutMs: 60_000, message: 'deleted' });
  }, 300_000);
});

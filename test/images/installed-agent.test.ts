import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureVeth, removeTestObjects, removeVeth } from '../support/engines.js';
import {
  AGENT_IMAGE,
  assertFixedNamesFree,
  bridgeAddress,
  docker,
  type EnrolmentApi,
  exists,
  imagesOrSkip,
  NETMON_IMAGE,
  runInstaller,
  SHARED_VOLUME,
  startEnrolmentApi,
} from '../support/images.js';
import { STANDIN_IMAGE } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * The agent image as a plant engineer gets it: install/install.sh enrols the host with the cloud's enrolment API,
 * starts the sidecar and the agent from the locally built images, and the agent (a container on the default
 * bridge, Docker socket and shared volume mounted, certificates read-only) connects to the test cloud and runs a
 * vPLC through its lifecycle. A second install changes nothing. Then delete_orchestrator, run by that installed
 * agent beside a foreign container and network, removes all that is ours, and the installer's uninstall the rest.
 */
const dockerUp = await dockerOrSkip();
const images = dockerUp && (await imagesOrSkip());
const ORCH_ID = 'i16-host-1';
const PARENT = 'i16p0';
const SUBNET = '10.216.7';
const FOREIGN = 'i16-foreign';
const FOREIGN_NET = 'i16-foreign-net';
type Reply = Record<string, unknown>;

describe.skipIf(!images)('the agent image installed by install.sh', () => {
  let pki: TestPki;
  let cloud: TestCloud;
  let api: EnrolmentApi;
  let work: string;
  let mtlsDir: string;
  let installArgs: string[];
  let correlation = 16_000;
  // Runtimes of this file: two named like the old agent's (UUIDs), one not.
  const runtimes = [randomUUID(), randomUUID(), 'i16-line-3'];

  const ask = (topic: string, payload: Record<string, unknown> = {}, timeoutMs = 15_000) =>
    cloud.request(topic, { correlation_id: correlation++, ...payload }, timeoutMs) as Promise<Reply>;
  const status = (id: string) => ask('get_device_status', { device_id: id });
  const vnic = (i: number) => ({
    name: 'eth0',
    parent_interface: PARENT,
    network_mode: 'static',
    ip: `${SUBNET}.${20 + i}`,
    subnet: `${SUBNET}.0/24`,
    gateway: `${SUBNET}.1`,
  });
  const containerIds = async () =>
    Object.fromEntries(
      await Promise.all(
        ['orchestrator_agent', 'autonomy_netmon'].map(async (n) => [n, await docker('inspect', '-f', '{{.Id}}', n)]),
      ),
    );

  beforeAll(async () => {
    await assertFixedNamesFree();
    work = await mkdtemp(join(tmpdir(), 'i16-install-'));
    mtlsDir = join(work, 'mtls');
    const bridge = await bridgeAddress();
    pki = await makeTestPki(join(work, 'pki'), { serverIps: [bridge] });
    // The agent runs in a container on the default bridge: the cloud listens on the host's bridge address.
    cloud = await startTestCloud({ pki, host: bridge });
    api = await startEnrolmentApi(pki, ORCH_ID);
    await ensureVeth(PARENT, 'i16q0');
    installArgs = [
      '--api-url',
      api.url,
      '--cloud-url',
      cloud.url,
      '--ca-file',
      pki.caFile,
      '--mtls-dir',
      mtlsDir,
      '--pull',
      'never',
      '--env',
      `ORCH_RUNTIME_IMAGE=${STANDIN_IMAGE}`,
      // This engine refuses the runtime's default ulimits (docs/platform-notes: rlimits).
      '--env',
      'ORCH_RUNTIME_ULIMITS=none',
      '--env',
      `ORCH_PARENT_INTERFACES=${PARENT}`,
    ];
  }, 120_000);

  afterAll(async () => {
    // Only what this file made: the fixed names were free before it started.
    for (const name of ['orchestrator_agent', 'autonomy_netmon', 'orchestrator_cleanup', 'orchestrator_upgrader'])
      await docker('rm', '-f', name).catch(() => undefined);
    for (const name of runtimes) await docker('rm', '-f', name).catch(() => undefined);
    await removeTestObjects('/var/run/docker.sock', FOREIGN, [FOREIGN_NET, `macvlan_${PARENT}_`]);
    for (const name of runtimes) await docker('network', 'rm', `${name}_internal`).catch(() => undefined);
    await docker('volume', 'rm', SHARED_VOLUME).catch(() => undefined);
    await removeVeth(PARENT);
    await api?.close();
    await cloud?.close();
    await rm(work, { recursive: true, force: true });
  }, 120_000);

  it('installs: enrols the host, starts sidecar and agent, and the agent connects with the enrolled identity', async () => {
    const first = await runInstaller(installArgs);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('created volume orchestrator-shared');
    expect(first.stdout).toContain(`enrolled: orchestrator id ${ORCH_ID}`);
    expect(first.stdout).toContain('started container autonomy_netmon');
    expect(first.stdout).toContain('started container orchestrator_agent');
    expect(api.requests).toEqual(['GET /orchestrators/id', 'POST /orchestrators/enroll']);
    expect(await cloud.waitForConnection(90_000)).toBe(ORCH_ID);

    const agent = JSON.parse(await docker('inspect', 'orchestrator_agent'))[0];
    expect(agent.HostConfig.RestartPolicy.Name).toBe('unless-stopped');
    expect(agent.Mounts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Destination: '/root/.mtls', RW: false, Source: mtlsDir }),
        expect.objectContaining({ Destination: '/var/run/docker.sock' }),
        expect.objectContaining({ Destination: '/var/orchestrator', Name: SHARED_VOLUME }),
      ]),
    );
    const netmon = JSON.parse(await docker('inspect', 'autonomy_netmon'))[0];
    expect(netmon.HostConfig).toMatchObject({ NetworkMode: 'host', PidMode: 'host', Privileged: false });
    expect([...netmon.HostConfig.CapAdd].sort()).toEqual(['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'SYS_PTRACE']);
    // The image's health check is the agent's own liveness beat.
    await waitFor(
      async () => (await docker('inspect', '-f', '{{.State.Health.Status}}', 'orchestrator_agent')) === 'healthy',
      {
        timeoutMs: 90_000,
        message: 'agent container healthy',
      },
    );
  }, 240_000);

  it('runs a vPLC through its whole lifecycle from inside its container', async () => {
    const name = runtimes[2]!;
    expect(await ask('create_new_runtime', { container_name: name, vnic_configs: [vnic(0)] })).toMatchObject({
      status: 'creating',
    });
    await waitFor(async () => (await status(name)).state === 'running', { timeoutMs: 120_000, message: 'running' });
    expect(await status(name)).toMatchObject({
      status: 'success',
      is_running: true,
      networks: { [`macvlan_${PARENT}_${SUBNET}.0_24`]: { ip_address: `${SUBNET}.20` } },
    });
    // run_command crosses the agent's container into the runtime's internal network.
    expect(await ask('run_command', { device_id: name, method: 'GET', api: '/api/status' }, 60_000)).toMatchObject({
      status: 'success',
      http_response: { status_code: 200 },
    });
    expect(await ask('delete_device', { device_id: name })).toMatchObject({ status: 'deleting' });
    await waitFor(async () => (await status(name)).status === 'not_found', { timeoutMs: 60_000, message: 'deleted' });
    expect(await exists('container', name)).toBe(false);
  }, 300_000);

  it('installs again without changing anything', async () => {
    const before = await containerIds();
    const again = await runInstaller(installArgs);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('volume orchestrator-shared exists');
    expect(again.stdout).toContain('autonomy_netmon is up to date');
    expect(again.stdout).toContain('orchestrator_agent is up to date');
    expect(again.stdout).not.toContain('enrolled');
    expect(await containerIds()).toEqual(before);
    expect(api.requests).toHaveLength(2);
  }, 120_000);

  it('uninstalls what it made, and a new install comes back with the kept certificate', async () => {
    const out = await runInstaller(['--uninstall', '--mtls-dir', mtlsDir]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('removed container orchestrator_agent');
    expect(out.stdout).toContain('removed container autonomy_netmon');
    expect(out.stdout).toContain(`removed volume ${SHARED_VOLUME}`);
    expect(out.stdout).toContain('uninstalled: nothing this installer made is left');
    for (const name of ['orchestrator_agent', 'autonomy_netmon']) expect(await exists('container', name)).toBe(false);
    expect(await exists('volume', SHARED_VOLUME)).toBe(false);
    await cloud.waitForDisconnect(60_000);

    const back = await runInstaller(installArgs);
    expect(back.code).toBe(0);
    expect(back.stdout).not.toContain('enrolled');
    expect(api.requests).toHaveLength(2);
    expect(await cloud.waitForConnection(90_000)).toBe(ORCH_ID);
  }, 240_000);

  it('self-destructs: removes its runtimes, networks, sidecar, volume and itself, and nothing foreign', async (ctx) => {
    // The agent supervises every labelled runtime on the engine; a delete_orchestrator would remove other tests'
    // runtimes too. In CI test files run one at a time, so there are none; elsewhere the test waits for them.
    const foreignRuntimes = async () =>
      (await docker('ps', '-a', '--filter', 'label=edge.autonomy.managed=true', '--format', '{{.Names}}'))
        .split('\n')
        .filter((n) => n && !runtimes.includes(n));
    const others = await foreignRuntimes();
    if (others.length > 0) {
      if (process.env.CI) throw new Error(`runtimes of other tests on this engine: ${others.join(', ')}`);
      ctx.skip(`runtimes of other tests are on this engine (${others.join(', ')}): self-destruct would remove them`);
    }
    await docker('run', '-d', '--name', FOREIGN, '--network', 'none', STANDIN_IMAGE);
    await docker('network', 'create', FOREIGN_NET);
    for (const [i, name] of runtimes.entries()) {
      expect(await ask('create_new_runtime', { container_name: name, vnic_configs: [vnic(i)] })).toMatchObject({
        status: 'creating',
      });
    }
    for (const name of runtimes)
      await waitFor(async () => (await status(name)).state === 'running', { timeoutMs: 120_000, message: name });
    const listed = await ask('list_devices');
    expect((listed.devices as Reply[]).map((d) => d.device_id).sort()).toEqual([...runtimes].sort());

    expect(await ask('delete_orchestrator')).toMatchObject({ status: 'accepted', poll_device_id: '__orchestrator__' });
    const steps: string[] = [];
    let last: Reply = {};
    await waitFor(
      async () => {
        last = await status('__orchestrator__').catch(() => last);
        if (typeof last.step === 'string' && steps.at(-1) !== last.step) steps.push(last.step);
        if (last.status === 'error') throw new Error(`self-destruct failed: ${JSON.stringify(last)}`);
        return last.status === 'deleted';
      },
      { timeoutMs: 240_000, intervalMs: 100, message: 'the final step' },
    );
    expect(last).toMatchObject({ status: 'deleted', step: 'done', operation: 'delete' });
    expect(steps.at(-1)).toBe('done');
    expect(steps).toContain('deleting_runtimes');
    await cloud.waitForDisconnect(60_000);

    // Nothing of ours left in Docker; the shared volume (and every file in it) goes once the agent is gone.
    await waitFor(async () => !(await exists('container', 'orchestrator_agent')), { timeoutMs: 60_000 });
    await waitFor(async () => !(await exists('volume', SHARED_VOLUME)), { timeoutMs: 120_000, message: 'volume gone' });
    await waitFor(async () => !(await exists('container', 'orchestrator_cleanup')), { timeoutMs: 60_000 });
    expect(await exists('container', 'autonomy_netmon')).toBe(false);
    for (const name of runtimes) {
      expect(await exists('container', name)).toBe(false);
      expect(await exists('network', `${name}_internal`)).toBe(false);
    }
    // (Networks of other tests on this engine carry the same labels: only ours are asserted on.)
    const left = await docker('network', 'ls', '--format', '{{.Name}}', '--filter', 'label=edge.autonomy.managed=true');
    expect(left.split('\n').filter((n) => n.includes(PARENT) || runtimes.some((r) => n.startsWith(r)))).toEqual([]);
    expect(await exists('network', `macvlan_${PARENT}_${SUBNET}.0_24`)).toBe(false);
    // The foreign ones are untouched.
    expect(await docker('inspect', '-f', '{{.State.Running}}', FOREIGN)).toBe('true');
    expect(await exists('network', FOREIGN_NET)).toBe(true);
  }, 600_000);

  it('uninstalls what is left (the certificate, with --purge) and nothing else', async () => {
    await docker('volume', 'create', SHARED_VOLUME); // not the installer's: it must be kept
    const out = await runInstaller(['--uninstall', '--purge', '--mtls-dir', mtlsDir]);
    expect(out.stdout).toContain(`kept volume ${SHARED_VOLUME}: it was not made by this installer`);
    expect(out.stdout).toContain(`removed ${mtlsDir}/client.key`);
    expect(await exists('volume', SHARED_VOLUME)).toBe(true);
    await docker('volume', 'rm', SHARED_VOLUME);
    expect(await readdir(work)).not.toContain('mtls');
    for (const image of [AGENT_IMAGE, NETMON_IMAGE]) expect(await exists('image', image)).toBe(true);
  }, 120_000);
});

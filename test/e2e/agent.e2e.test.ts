import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, runAgentOnce, startAgentProcess, agentArgs } from '../support/agentProcess.js';
import { makeTestPki, TEST_AGENT_CN, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

const sh = promisify(execFile);
let pki: TestPki;
let cloud: TestCloud;

beforeAll(async () => {
  pki = await makeTestPki();
  cloud = await startTestCloud({ pki });
}, 120_000);
afterAll(async () => {
  await cloud?.close();
  await pki?.cleanup();
});

type Reply = Record<string, unknown>;
const ask = (topic: string, payload: unknown, timeoutMs = 10_000) =>
  cloud.request(topic, payload, timeoutMs) as Promise<Reply>;

describe('the built agent: configuration errors', () => {
  it.each([
    [['--bogus'], /unknown flag --bogus/],
    [['--cloud-url', 'ftp://example.org', '--mtls-dir', '/nonexistent'], /--cloud-url/],
    [['--mtls-dir', '/nonexistent-mtls'], /--mtls-dir: cannot read \/nonexistent-mtls\/client\.crt/],
  ])('%j exits 2 with one line and no stack trace', async (args, message) => {
    const { code, stderr } = await runAgentOnce(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('the built agent against a test cloud', () => {
  let agent: AgentProcess;

  beforeAll(async () => {
    agent = await startAgentProcess(agentArgs({ cloudUrl: cloud.url, pki, image: 'orchestrator-test/missing:never' }), {
      ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock',
      // As the release images stamp it: heartbeats and get_orchestrator_version must say it.
      AGENT_VERSION: 'v9.9.9-e2e',
    });
    await waitFor(() => cloud.connectedCns.includes(TEST_AGENT_CN), {
      timeoutMs: 30_000,
      message: `agent connection; output:\n${agent?.output()}`,
    });
  }, 120_000);
  afterAll(async () => {
    await agent?.stop();
  });

  it('connects with its certificate and sends heartbeats every 5 s', async () => {
    const before = cloud.heartbeats.length;
    const beats = await cloud.waitForHeartbeats(before + 2, 15_000);
    const last = beats.at(-1)!.payload as Reply;
    expect(last).toMatchObject({ agent_id: TEST_AGENT_CN, agent_version: 'v9.9.9-e2e', status: 'active' });
    expect(Object.keys(last).slice(0, 2)).toEqual(['agent_id', 'agent_version']);
    expect(typeof last.memory_total).toBe('number');
  }, 20_000);

  it('answers get_orchestrator_version with its stamped version, unknown for what it cannot find', async () => {
    const reply = await ask('get_orchestrator_version', { correlation_id: 21 });
    expect(reply).toMatchObject({
      action: 'get_orchestrator_version',
      correlation_id: 21,
      status: 'success',
      orchestrator_version: 'v9.9.9-e2e',
      // The agent runs on the host here, not in a container.
      orchestrator_image_id: 'unknown',
    });
    expect(typeof reply.netmon_version).toBe('string');
  });

  it('answers bad input with the correlation_id', async () => {
    expect(await ask('delete_device', { correlation_id: 5 })).toEqual({
      status: 'error',
      error: 'Missing required field: device_id',
      action: 'delete_device',
      correlation_id: 5,
    });
    expect(await ask('get_device_status', { correlation_id: 6, device_id: 42 })).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/^Invalid field type: device_id/),
      correlation_id: 6,
    });
    expect(await ask('get_serial_devices', 'not an object')).toMatchObject({ status: 'error', correlation_id: null });
  });

  it('gives a repeated create its first reply, and answers status afresh', async () => {
    const create = {
      correlation_id: 77,
      container_name: 'e2e-dedupe',
      vnic_configs: [
        {
          name: 'eth0',
          parent_interface: 'e2enone0',
          network_mode: 'static',
          ip: '10.9.9.9',
          subnet: '10.9.9.0/24',
          gateway: '10.9.9.1',
        },
      ],
    };
    const status = { correlation_id: 78, device_id: 'e2e-dedupe' };
    expect(await ask('get_device_status', status)).toMatchObject({ status: 'not_found' });
    const first = await ask('create_new_runtime', create);
    expect(first).toMatchObject({ status: 'creating', container_id: 'e2e-dedupe', correlation_id: 77 });
    expect(await ask('create_new_runtime', create)).toEqual(first);
    // The same status request now sees the vPLC: read-only topics are never replayed.
    expect((await ask('get_device_status', status)).status).not.toBe('not_found');
    // A different payload under the same correlation_id is a new request (refused: the name exists).
    expect(
      await ask('create_new_runtime', { ...create, vnic_configs: [{ ...create.vnic_configs[0], ip: '10.9.9.10' }] }),
    ).toMatchObject({
      status: 'error',
    });
    await ask('delete_device', { correlation_id: 79, device_id: 'e2e-dedupe' });
    await waitFor(async () => (await ask('get_device_status', status)).status === 'not_found', {
      timeoutMs: 30_000,
      message: 'e2e-dedupe removed',
    });
  }, 60_000);
});

const docker = await dockerOrSkip();

describe.skipIf(!docker)('the built agent running a vPLC on a real engine', () => {
  let agent: AgentProcess;
  const parent = 'e2ep0';
  const name = 'e2e-plc-1';

  beforeAll(async () => {
    const image = await ensureStandinImage();
    await sh('ip', ['link', 'del', parent]).catch(() => {});
    await sh('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', 'e2eq0']);
    await sh('ip', ['link', 'set', parent, 'up']);
    await sh('ip', ['link', 'set', 'e2eq0', 'up']);
    agent = await startAgentProcess(agentArgs({ cloudUrl: cloud.url, pki, image, parentInterfaces: [parent] }), {
      ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock',
    });
    await waitFor(() => cloud.connectionCount() === 1, { timeoutMs: 30_000, message: 'agent connection' });
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    await sh('/usr/bin/docker', ['rm', '-f', name]).catch(() => {});
    await sh('/usr/bin/docker', ['network', 'rm', `${name}_internal`, 'macvlan_e2ep0_10.231.0.0_24']).catch(() => {});
    await sh('ip', ['link', 'del', parent]).catch(() => {});
  });

  const status = async () => ask('get_device_status', { correlation_id: 1, device_id: name });
  const until = (predicate: (s: Reply) => boolean, what: string) =>
    waitFor(async () => predicate(await status()), { timeoutMs: 60_000, intervalMs: 250, message: what });

  it('creates, serves run_command, stops, starts, restarts and deletes a vPLC', async () => {
    const created = await ask('create_new_runtime', {
      correlation_id: 100,
      container_name: name,
      vnic_configs: [
        {
          name: 'eth0',
          parent_interface: parent,
          network_mode: 'static',
          ip: '10.231.0.50',
          subnet: '10.231.0.0/24',
          gateway: '10.231.0.1',
          mac: '02:42:0a:e7:00:32',
        },
      ],
    });
    expect(created).toMatchObject({ status: 'creating', container_id: name });
    await until((s) => s.status === 'success' && s.is_running === true && s.state === 'running', 'running');
    const running = await status();
    // The stand-in, like the runtime, answers its API a moment after the container starts: not ready yet.
    expect(running.ready).toBe(false);
    expect(running.networks).toMatchObject({
      'macvlan_e2ep0_10.231.0.0_24': { ip_address: '10.231.0.50', mac_address: '02:42:0a:e7:00:32' },
    });

    const command = await ask(
      'run_command',
      { correlation_id: 101, device_id: name, method: 'GET', api: '/api/status' },
      40_000,
    );
    // Sent the moment the vPLC is running: run_command waits for the runtime's API instead of failing.
    expect(command).toMatchObject({
      status: 'success',
      http_response: { status_code: 200, body: { status: 'RUNNING' } },
    });
    expect(await status()).toMatchObject({ state: 'running', ready: true });

    expect(await ask('stop_device', { correlation_id: 102, device_id: name })).toMatchObject({ status: 'accepted' });
    const stopped = await cloud.waitForEvent('stop_device', (p) => (p as Reply).correlation_id === 102, 60_000);
    expect(stopped.payload).toMatchObject({ action: 'stop_device', success: true, correlation_id: 102 });
    await until((s) => s.is_running === false && s.state === 'stopped', 'stopped');
    expect(await status()).toMatchObject({ ready: false });

    expect(await ask('start_device', { correlation_id: 103, device_id: name })).toMatchObject({ status: 'accepted' });
    expect(
      (await cloud.waitForEvent('start_device', (p) => (p as Reply).correlation_id === 103, 60_000)).payload,
    ).toMatchObject({ success: true });
    await until((s) => s.is_running === true && s.state === 'running', 'running again');

    expect(await ask('restart_device', { correlation_id: 104, device_id: name })).toMatchObject({ status: 'accepted' });
    expect(
      (await cloud.waitForEvent('restart_device', (p) => (p as Reply).correlation_id === 104, 60_000)).payload,
    ).toMatchObject({ success: true });
    await until((s) => s.is_running === true && s.state === 'running', 'running after restart');
    await until((s) => s.ready === true, 'ready after restart');

    expect(await ask('delete_device', { correlation_id: 105, device_id: name })).toMatchObject({ status: 'deleting' });
    await until((s) => s.status === 'not_found', 'not_found');
    const { stdout } = await sh('/usr/bin/docker', ['network', 'ls', '--format', '{{.Name}}']);
    expect(stdout.split('\n')).not.toContain(`${name}_internal`);
    expect(stdout.split('\n')).not.toContain('macvlan_e2ep0_10.231.0.0_24');
  }, 240_000);
});

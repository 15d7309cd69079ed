import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, agentArgs, startAgentProcess } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { fuzzedRequest } from '../support/fuzzRequests.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

const sh = promisify(execFile);
const docker = await dockerOrSkip();
/** The one interface vPLCs may use here (a veth, allowed by name): the scratch vPLC's parent. */
const PARENT = 'secp0';

/**
 * The security table: probes an attacker or a careless cloud would send, each with the safe outcome it must meet,
 * sent over the real mTLS link to the built agent. After every probe the agent still answers, every probe gets
 * exactly one ack, and no secret sent in a probe appears in the agent's output or its log files.
 */
type Reply = Record<string, unknown>;
interface Probe {
  what: string;
  topic: string;
  payload: unknown;
  /** The safe outcome; returns a description of what is wrong, or null. */
  safe: (reply: Reply) => string | null;
}

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'then'];
const SECRETS = ['SECRET-bearer-7f3a', 'SECRET-apikey-91c2', 'SECRET-cookie-55d0', 'SECRET-pw-e4b1'];

const isError = (r: Reply) => r.status === 'error' || (r.http_response as Reply | undefined)?.ok === false;
const errorText = (r: Reply) =>
  String(r.error ?? ((r.http_response as Reply | undefined)?.body as Reply | undefined)?.error ?? '');
const refusedWith =
  (pattern: RegExp) =>
  (r: Reply): string | null =>
    isError(r) && pattern.test(errorText(r)) ? null : `expected an error matching ${pattern}, got ${JSON.stringify(r)}`;
const notFound = refusedWith(/not found|does not exist|no vPLC/i);
const anySentence = (r: Reply) =>
  isError(r) && errorText(r).length >= 10 && errorText(r).length <= 2_000
    ? null
    : `expected a sentence, got ${JSON.stringify(r)}`;

/** A vPLC that exists (its create fails on a parent interface that is not there), so run_command checks its input. */
const TARGET = 'sec-target';
const vnic = (parent: string) => ({
  name: 'eth0',
  parent_interface: parent,
  network_mode: 'static',
  ip: '10.235.0.5',
  subnet: '10.235.0.0/24',
  gateway: '10.235.0.1',
});

function probes(): Probe[] {
  const list: Probe[] = [];
  let id = 9000;
  const next = () => id++;
  for (const name of PROTOTYPE_NAMES) {
    for (const topic of ['start_device', 'stop_device', 'restart_device', 'delete_device']) {
      list.push({
        what: `${topic} of ${name}`,
        topic,
        payload: { correlation_id: next(), device_id: name },
        safe: notFound,
      });
    }
    list.push({
      what: `get_device_status of ${name}`,
      topic: 'get_device_status',
      payload: { correlation_id: next(), device_id: name },
      safe: (r) => (r.status === 'not_found' ? null : `expected not_found, got ${JSON.stringify(r)}`),
    });
    list.push({
      what: `get_consumption_device of ${name}`,
      topic: 'get_consumption_device',
      payload: { correlation_id: next(), device_id: name, cpuPeriod: '1h', memoryPeriod: '1h' },
      safe: notFound,
    });
    list.push({
      what: `run_command to ${name}`,
      topic: 'run_command',
      payload: { correlation_id: next(), device_id: name, method: 'GET', api: '/api/status' },
      safe: notFound,
    });
  }
  for (const [what, name] of [
    ['a path', '../etc'],
    ['spaces', 'my plc'],
    ['300 characters', 'p'.repeat(300)],
    ['a control character', 'plc\u0007one'],
    ['a newline', 'plc\none'],
    ['a slash', 'plc/one'],
    ['an empty name', ''],
  ] as const) {
    list.push({
      what: `create with ${what} in the name`,
      topic: 'create_new_runtime',
      payload: { correlation_id: next(), container_name: name, vnic_configs: [vnic('sec0none')] },
      safe: anySentence,
    });
  }
  for (const [what, api] of [
    ['an absolute URL', 'http://169.254.169.254/latest/meta-data'],
    ['a scheme-relative URL', '//evil.example/x'],
    ['a parent path', '/api/../../etc/passwd'],
    ['an encoded parent path', '/api/%2e%2e/%2e%2e/etc/passwd'],
    ['a backslash', '/api\\..\\secret'],
    ['a CRLF', '/api/status\r\nHost: evil.example'],
    ['a fragment', '/api/status#x'],
    ['a relative path', 'api/status'],
    ['a user-info authority', '/@evil.example/'],
  ] as const) {
    list.push({
      what: `run_command with ${what}`,
      topic: 'run_command',
      payload: { correlation_id: next(), device_id: TARGET, method: 'GET', api },
      safe: anySentence,
    });
  }
  list.push({
    what: 'run_command to a port that is not allowed',
    topic: 'run_command',
    payload: { correlation_id: next(), device_id: TARGET, method: 'GET', api: '/api/status', port: 22 },
    safe: anySentence,
  });
  list.push({
    what: 'run_command with a CONNECT method',
    topic: 'run_command',
    payload: { correlation_id: next(), device_id: TARGET, method: 'CONNECT', api: '/api/status' },
    safe: anySentence,
  });
  list.push({
    what: 'run_command carrying credentials (must never be logged)',
    topic: 'run_command',
    payload: {
      correlation_id: next(),
      device_id: TARGET,
      method: 'POST',
      api: '/api/login',
      headers: { Authorization: `Bearer ${SECRETS[0]}`, 'X-Api-Key': SECRETS[1], Cookie: `session=${SECRETS[2]}` },
      data: { username: 'admin', password: SECRETS[3] },
    },
    safe: (r) =>
      r.correlation_id !== undefined ? null : `expected an ack with the correlation_id, got ${JSON.stringify(r)}`,
  });
  for (const topic of ['create_new_runtime', 'get_device_status', 'run_command', 'delete_device']) {
    list.push({
      what: `${topic} with prototype-named keys`,
      topic,
      payload: JSON.parse(
        `{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "correlation_id": ${next()}}`,
      ),
      safe: (r) => (isError(r) ? null : `expected a validation error, got ${JSON.stringify(r)}`),
    });
  }
  return list;
}

describe.skipIf(!docker)('the security table, against the built agent on a real engine', () => {
  let pki: TestPki;
  let cloud: TestCloud;
  let agent: AgentProcess;
  const ask = (topic: string, payload: unknown) => cloud.request(topic, payload, 15_000) as Promise<Reply>;

  beforeAll(async () => {
    const image = await ensureStandinImage();
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    await sh('ip', ['link', 'del', PARENT]).catch(() => {});
    await sh('ip', ['link', 'add', PARENT, 'type', 'veth', 'peer', 'name', 'secq0']);
    await sh('ip', ['link', 'set', PARENT, 'up']);
    agent = await startAgentProcess(
      [...agentArgs({ cloudUrl: cloud.url, pki, image, parentInterfaces: [PARENT] }), '--log-level', 'debug'],
      { ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock' },
    );
    await waitFor(() => cloud.connectionCount() === 1, { timeoutMs: 30_000, message: 'agent connection' });
    await ask('create_new_runtime', { correlation_id: 1, container_name: TARGET, vnic_configs: [vnic('sec0none')] });
    await waitFor(
      async () => (await ask('get_device_status', { correlation_id: 2, device_id: TARGET })).status !== 'not_found',
      {
        timeoutMs: 10_000,
        message: 'the target vPLC known',
      },
    );
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await sh('/usr/bin/docker', ['rm', '-f', 'sec-scratch']).catch(() => {});
    await sh('/usr/bin/docker', ['network', 'rm', 'sec-scratch_internal', 'macvlan_secp0_10.236.0.0_24']).catch(
      () => {},
    );
    await sh('ip', ['link', 'del', PARENT]).catch(() => {});
    await cloud?.close();
    await pki?.cleanup();
  });

  it('meets the safe outcome of every probe (at least 40), with one ack each, and the agent keeps answering', async () => {
    const table = probes();
    expect(table.length).toBeGreaterThanOrEqual(40);
    const failures: string[] = [];
    for (const probe of table) {
      const acks = (await cloud.requestRaw(probe.topic, probe.payload, 15_000)) as Reply[];
      if (acks.length !== 1) {
        failures.push(`${probe.what}: ${acks.length} ack arguments`);
        continue;
      }
      const problem = probe.safe(acks[0]!);
      if (problem) failures.push(`${probe.what}: ${problem}`);
      // Still supervising: a known vPLC still answers after each probe.
      const target = await ask('get_device_status', { correlation_id: 3, device_id: TARGET });
      if (target.status === 'not_found' || /did not answer/.test(String(target.error)))
        failures.push(`after ${probe.what}: the target vPLC is no longer supervised (${JSON.stringify(target)})`);
    }
    expect(failures).toEqual([]);
  }, 240_000);

  it('lets a vPLC named after a built-in property be created, found and deleted like any other', async () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty']) {
      const created = await ask('create_new_runtime', {
        correlation_id: 20,
        container_name: name,
        vnic_configs: [vnic('sec0none')],
      });
      if (created.status === 'error') {
        // Refused outright (e.g. an interface that is not a host NIC): a sentence, and nothing supervised by that name.
        expect(errorText(created).length).toBeGreaterThan(10);
        continue;
      }
      expect(created).toMatchObject({ status: 'creating', container_id: name });
      await waitFor(
        async () => (await ask('get_device_status', { correlation_id: 21, device_id: name })).state === 'failed',
        {
          timeoutMs: 60_000,
          message: `${name} settled`,
        },
      );
      expect(await ask('delete_device', { correlation_id: 22, device_id: name })).toMatchObject({ status: 'deleting' });
      await waitFor(
        async () => (await ask('get_device_status', { correlation_id: 23, device_id: name })).status === 'not_found',
        {
          timeoutMs: 60_000,
          message: `${name} deleted`,
        },
      );
    }
  }, 240_000);

  it('never writes a secret it was sent to its output or its log files', async () => {
    const files: string[] = [];
    for (const sub of ['logs', 'debug']) {
      for (const f of await readdir(join(agent.dataDir, sub)).catch(() => [] as string[]))
        files.push(join(agent.dataDir, sub, f));
    }
    expect(files.length).toBeGreaterThan(0);
    const texts = [agent.output(), ...(await Promise.all(files.map((f) => readFile(f, 'utf8'))))];
    for (const secret of SECRETS) for (const text of texts) expect(text).not.toContain(secret);
  });

  it('answers 300 fuzzed requests with one ack each, and afterwards a scratch vPLC is created, becomes ready and is deleted', async () => {
    // delete_orchestrator is left out: on this shared engine it would remove the agent's own objects for real.
    const sample = fc
      .sample(fuzzedRequest(8443, TARGET, { maxString: 64 * 1024, maxDepth: 1_500 }), { numRuns: 340, seed: 11 })
      .filter((r) => r.topic !== 'delete_orchestrator')
      .slice(0, 300);
    for (const { topic, args } of sample) {
      const acks = await cloud.requestArgs(topic as string, args, 15_000);
      expect(acks, String(topic)).toHaveLength(1);
    }
    expect(agent.child.exitCode).toBeNull();
    expect(agent.output()).not.toMatch(/unhandled promise rejection|uncaught exception/);

    const scratch = 'sec-scratch';
    const created = await ask('create_new_runtime', {
      correlation_id: 30,
      container_name: scratch,
      vnic_configs: [{ ...vnic(PARENT), ip: '10.236.0.5', subnet: '10.236.0.0/24', gateway: '10.236.0.1' }],
    });
    expect(created).toMatchObject({ status: 'creating' });
    await waitFor(
      async () => (await ask('get_device_status', { correlation_id: 31, device_id: scratch })).ready === true,
      {
        timeoutMs: 90_000,
        message: 'the scratch vPLC ready',
      },
    );
    expect(await ask('delete_device', { correlation_id: 32, device_id: scratch })).toMatchObject({
      status: 'deleting',
    });
    await waitFor(
      async () => (await ask('get_device_status', { correlation_id: 33, device_id: scratch })).status === 'not_found',
      {
        timeoutMs: 60_000,
        message: 'the scratch vPLC deleted',
      },
    );
  }, 300_000);
});

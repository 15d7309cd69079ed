import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpDebugSessions } from '../../src/actors/debug/httpSessions.js';
import { RuntimeLinks } from '../../src/actors/debug/runtimeLinks.js';
import { runCommandDebug } from '../../src/actors/cloud/topics/runCommandDebug.js';
import type { VplcStatus } from '../../src/actors/vplc/supervisor.js';
import { RuntimeHttpProxy } from '../../src/io/runtime-http/proxy.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { sleep, waitFor } from '../support/wait.js';

const hasDocker = await dockerOrSkip();
const SOCKET = '/var/run/docker.sock';
const suffix = randomBytes(3).toString('hex');
const NETWORK = `i13-${suffix}_internal`;
const CONTAINER = `i13-${suffix}-debug`;
const PLC = 'i13-plc';
// The stand-in's tokens expire after this many seconds, so the tests also prove the agent logs in again.
const TOKEN_TTL_S = 3;
const CREDENTIALS = { username: 'engineer', password: 's3cret-pw' };

describe.skipIf(!hasDocker)('run_command debug sessions against the OpenPLC stand-in', () => {
  const docker = new Docker({ socketPath: SOCKET, timeout: 30_000 });
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const proxy = new RuntimeHttpProxy({ allowedPorts: [8443, 8080], timeoutMs: 10_000, maxBytes: 1 << 20, log });
  let ip = '';
  let links: RuntimeLinks;
  let sessions: HttpDebugSessions;
  const ctx = { signal: new AbortController().signal, transient: () => {} };
  const status = { name: PLC, phase: 'running', state: 'running' } as VplcStatus;

  const send = async (data: unknown, extra: Record<string, unknown> = {}) =>
    runCommandDebug(
      { correlation_id: 1, device_id: PLC, method: 'POST', api: 'debug', data, ...extra },
      status,
      sessions,
      ctx,
    );
  const debug = async (data: Record<string, unknown>) => (await send(data)).debug_response;

  beforeAll(async () => {
    const image = await ensureStandinImage(SOCKET);
    await docker.createNetwork({ Name: NETWORK, Driver: 'bridge', Internal: true, CheckDuplicate: true });
    const container = await docker.createContainer({
      name: CONTAINER,
      Image: image,
      Env: [
        `STANDIN_DEBUG_USER=${CREDENTIALS.username}`,
        `STANDIN_DEBUG_PASSWORD=${CREDENTIALS.password}`,
        `STANDIN_TOKEN_TTL_S=${TOKEN_TTL_S}`,
      ],
      HostConfig: { NetworkMode: NETWORK },
    });
    await container.start();
    ip = (await container.inspect()).NetworkSettings.Networks[NETWORK]?.IPAddress ?? '';
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await waitFor(async () => (await proxy.request({ ip }, { method: 'GET', api: '/api/status' })).ok, {
      timeoutMs: 15_000,
      message: `the stand-in at ${ip}:8443 to answer`,
    });
    links = new RuntimeLinks({
      proxy,
      internalIp: (name) => (name === PLC ? ip : null),
      limits: { perVplc: 3, total: 4 },
      log,
    });
    sessions = new HttpDebugSessions({ links, allowedPorts: [8443, 8080], log });
  });

  afterAll(async () => {
    sessions?.stop();
    links?.stop();
    proxy.close();
    await docker
      .getContainer(CONTAINER)
      .remove({ force: true })
      .catch(() => {});
    await docker
      .getNetwork(NETWORK)
      .remove()
      .catch(() => {});
  });

  it('refuses commands before debug_start, and debug_start without credentials or with wrong ones', async () => {
    expect(await debug({ type: 'debug_info' })).toEqual({
      type: 'debug_error',
      error: 'No active debug session. Send debug_start first.',
    });
    expect((await debug({ type: 'debug_start' })) as { error: string }).toMatchObject({
      type: 'debug_error',
      error: expect.stringContaining("needs the runtime's username and password"),
    });
    expect(await debug({ type: 'debug_start', username: 'engineer', password: 'wrong' })).toMatchObject({
      type: 'debug_error',
      error: expect.stringMatching(/^Authentication failed: HTTP 401 \(wrong username or password/),
    });
    expect(await debug({ type: 'debug_start', ...CREDENTIALS, port: 9999 })).toMatchObject({
      type: 'debug_error',
      error: expect.stringContaining('port 9999 is not a runtime port the agent may reach'),
    });
    expect(await debug({ type: 'debug_launch' })).toEqual({
      type: 'debug_error',
      error: 'Unknown debug message type: debug_launch',
    });
    expect(sessions.count()).toBe(0);
    expect(links.count()).toBe(0);
  });

  it('answers a data that is not an object, and an unknown device, with an error naming what to send', async () => {
    expect(await send(null)).toMatchObject({ status: 'error', debug_response: { type: 'debug_error' } });
    expect(await send([1, 2])).toMatchObject({
      status: 'error',
      debug_response: { error: expect.stringContaining('needs data: a debug message object') },
    });
    const unknown = await runCommandDebug(
      { correlation_id: 2, device_id: 'nope', method: 'POST', api: 'debug', data: { type: 'debug_info' } },
      undefined,
      sessions,
      ctx,
    );
    expect(unknown).toEqual({
      status: 'error',
      debug_response: { type: 'debug_error', error: 'Device nope not found' },
    });
  });

  it('starts a session over https:8443 and reads, forces and releases variables', async () => {
    expect(await send({ type: 'debug_start', ...CREDENTIALS })).toEqual({
      status: 'success',
      debug_response: { type: 'debug_connected' },
    });
    expect(await debug({ type: 'debug_info' })).toEqual({ type: 'debug_info_response', variable_count: 32 });
    const md5 = await debug({ type: 'debug_get_md5' });
    expect(md5).toMatchObject({ type: 'debug_md5_response', md5: expect.stringMatching(/^[0-9a-f]{32}$/) });

    const values = (await debug({ type: 'debug_get_list', indexes: [0, 1, 2] })) as { tick: number; data: string };
    expect(values).toMatchObject({ type: 'debug_values_response', last_index: 2 });
    // BOOL (1 byte) + INT (2) + DINT (4): 7 bytes of hex.
    expect(values.data).toMatch(/^[0-9A-F]{14}$/);
    const later = (await debug({ type: 'debug_get_list', indexes: [0] })) as { tick: number };
    expect(later.tick).toBeGreaterThanOrEqual(values.tick);

    expect(await debug({ type: 'debug_set', index: 1, force: true, value: '00 2A' })).toEqual({
      type: 'debug_set_response',
      success: true,
    });
    expect(await debug({ type: 'debug_get_list', indexes: [1] })).toMatchObject({ data: '002A' });
    expect(await debug({ type: 'debug_set', index: 1, force: false })).toEqual({
      type: 'debug_set_response',
      success: true,
    });
  });

  it('reports the runtime status names and refuses bad arguments before sending them', async () => {
    expect(await debug({ type: 'debug_set', index: 40, value: '01' })).toEqual({
      type: 'debug_error',
      error: 'ERROR_OUT_OF_BOUNDS',
    });
    expect(await debug({ type: 'debug_get_list', indexes: [40] })).toEqual({
      type: 'debug_error',
      error: 'ERROR_OUT_OF_BOUNDS',
    });
    expect(await debug({ type: 'debug_get_list', indexes: [] })).toEqual({
      type: 'debug_error',
      error: 'indexes must not be empty',
    });
    expect(await debug({ type: 'debug_get_list', indexes: Array.from({ length: 257 }, () => 0) })).toEqual({
      type: 'debug_error',
      error: 'indexes must not exceed 256 entries',
    });
    expect(await debug({ type: 'debug_get_list', indexes: [1, 70000] })).toMatchObject({
      error: 'indexes[1] must be an integer 0–65535, got 70000',
    });
    expect(await debug({ type: 'debug_set', index: 'x' })).toEqual({
      type: 'debug_error',
      error: 'Invalid index: must be an integer 0–65535, got x',
    });
    expect(await debug({ type: 'debug_set', index: 2, value: 'zz' })).toMatchObject({
      error: expect.stringMatching(/^Invalid value hex string: zz/),
    });
  });

  it('logs in again when the runtime says the token expired, and keeps no credentials in the logs', async () => {
    await sleep((TOKEN_TTL_S + 1) * 1000);
    expect(await debug({ type: 'debug_info' })).toEqual({ type: 'debug_info_response', variable_count: 32 });
    expect(lines.some((l) => l.step === 'runtime_debug.relogin')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(CREDENTIALS.password);
  });

  it('stops a session with debug_stop, after which commands are refused', async () => {
    expect(await debug({ type: 'debug_stop' })).toEqual({ type: 'debug_disconnected' });
    expect(await debug({ type: 'debug_stop' })).toEqual({ type: 'debug_disconnected' });
    expect(await debug({ type: 'debug_info' })).toMatchObject({
      error: 'No active debug session. Send debug_start first.',
    });
    expect(links.count()).toBe(0);
  });

  it('keeps sessions named by session_id apart, caps them per vPLC, and ends them all when the vPLC goes', async () => {
    for (const sid of ['a', 'b', 'c']) {
      expect(await debug({ type: 'debug_start', session_id: sid, ...CREDENTIALS })).toEqual({
        type: 'debug_connected',
        session_id: sid,
      });
    }
    expect(await debug({ type: 'debug_start', session_id: 'd', ...CREDENTIALS })).toMatchObject({
      type: 'debug_error',
      error: expect.stringContaining('already has 3 debug connections to its runtime'),
    });
    expect(await debug({ type: 'debug_stop', session_id: 'a' })).toEqual({ type: 'debug_disconnected' });
    expect(await debug({ type: 'debug_info', session_id: 'b' })).toMatchObject({ type: 'debug_info_response' });
    expect(await debug({ type: 'debug_info', session_id: 'a' })).toMatchObject({
      error: 'No active debug session. Send debug_start first.',
    });
    sessions.endFor(PLC, 'deleted');
    expect(sessions.count()).toBe(0);
    expect(links.count()).toBe(0);
    expect(await debug({ type: 'debug_info', session_id: 'b' })).toMatchObject({
      error: 'No active debug session. Send debug_start first.',
    });
  });

  it('ends a session after its idle time without commands', async () => {
    const quick = new HttpDebugSessions({ links, allowedPorts: [8443, 8080], log, idleTimeoutMs: 300 });
    expect(await quick.handle(PLC, { type: 'debug_start', ...CREDENTIALS })).toEqual({ type: 'debug_connected' });
    await waitFor(() => quick.count() === 0, { timeoutMs: 10_000, message: 'the idle session to end' });
    expect(await quick.handle(PLC, { type: 'debug_info' })).toMatchObject({
      error: 'No active debug session. Send debug_start first.',
    });
    expect(links.count()).toBe(0);
  });

  it('debugs over plain http on 8080 as well', async () => {
    expect(await debug({ type: 'debug_start', ...CREDENTIALS, port: 8080 })).toEqual({ type: 'debug_connected' });
    expect(await debug({ type: 'debug_info' })).toEqual({ type: 'debug_info_response', variable_count: 32 });
    expect(await debug({ type: 'debug_stop' })).toEqual({ type: 'debug_disconnected' });
  });
});

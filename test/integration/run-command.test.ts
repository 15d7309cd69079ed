import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyFailureOf, RuntimeHttpProxy } from '../../src/io/runtime-http/proxy.js';
import { dockerOrSkip } from '../support/docker.js';
import { BAD_COMMANDS } from '../support/runtimeHttpCases.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

const hasDocker = await dockerOrSkip();
const SOCKET = '/var/run/docker.sock';
const suffix = randomBytes(3).toString('hex');
const NETWORK = `t6-${suffix}_internal`;
const CONTAINER = `t6-${suffix}-runtime`;

describe.skipIf(!hasDocker)('run_command against an OpenPLC stand-in on an internal bridge', () => {
  const docker = new Docker({ socketPath: SOCKET, timeout: 30_000 });
  const proxy = new RuntimeHttpProxy({
    allowedPorts: [8443, 8080],
    timeoutMs: 10_000,
    maxBytes: 1024 * 1024,
    log: pino({ level: 'silent' }),
  });
  let ip = '';
  let container: Docker.Container | undefined;

  async function requestLines(): Promise<string[]> {
    const raw = (await (container as Docker.Container).logs({ stdout: true, stderr: true })) as Buffer;
    // Non-TTY logs are multiplexed: 8-byte frame headers before each payload.
    const lines: string[] = [];
    for (let i = 0; i + 8 <= raw.length; ) {
      const size = raw.readUInt32BE(i + 4);
      lines.push(
        ...raw
          .subarray(i + 8, i + 8 + size)
          .toString('utf8')
          .split('\n'),
      );
      i += 8 + size;
    }
    return lines.filter((l) => / (GET|POST|PUT|PATCH|DELETE|HEAD) \//.test(l));
  }

  beforeAll(async () => {
    const image = await ensureStandinImage(SOCKET);
    await docker.createNetwork({ Name: NETWORK, Driver: 'bridge', Internal: true, CheckDuplicate: true });
    container = await docker.createContainer({
      name: CONTAINER,
      Image: image,
      HostConfig: { NetworkMode: NETWORK },
    });
    await container.start();
    const info = await container.inspect();
    ip = info.NetworkSettings.Networks[NETWORK]?.IPAddress ?? '';
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await waitFor(async () => (await proxy.request({ ip }, { method: 'GET', api: '/api/status' })).ok, {
      timeoutMs: 15_000,
      message: `the stand-in at ${ip}:8443 to answer`,
    });
  });

  afterAll(async () => {
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

  it('reads the runtime status over HTTPS on 8443 from the host', async () => {
    const view = await proxy.request({ ip }, { method: 'GET', api: '/api/status' });
    expect(view).toMatchObject({
      status_code: 200,
      ok: true,
      body: { status: 'RUNNING' },
      content_type: 'application/json',
    });
    expect(view.headers['Content-Type']).toBe('application/json');
  });

  it('passes params and headers through to the runtime', async () => {
    const view = await proxy.request(
      { ip },
      {
        method: 'GET',
        api: 'api/echo',
        params: { tag: ['a', 'b'], mode: 'run now', verbose: true },
        headers: { Authorization: 'Bearer test-token', 'X-Correlation': 12345 },
      },
    );
    expect(view.ok).toBe(true);
    expect(view.body).toMatchObject({
      method: 'GET',
      path: '/api/echo',
      query: { tag: ['a', 'b'], mode: 'run now', verbose: 'True' },
      headers: { authorization: 'Bearer test-token', 'x-correlation': '12345' },
    });
  });

  it('stops and starts the PLC with POSTs', async () => {
    const stopped = await proxy.request({ ip }, { method: 'POST', api: '/api/stop-plc' });
    expect(stopped.body).toMatchObject({ status: 'STOPPED' });
    expect((await proxy.request({ ip }, { method: 'GET', api: '/api/status' })).body).toEqual({ status: 'STOPPED' });
    await proxy.request({ ip }, { method: 'POST', api: '/api/start-plc' });
    expect((await proxy.request({ ip }, { method: 'GET', api: '/api/status' })).body).toEqual({ status: 'RUNNING' });
  });

  it('uploads a program as multipart', async () => {
    const program = Buffer.from('PROGRAM main\nEND_PROGRAM\n');
    const view = await proxy.request(
      { ip },
      {
        method: 'POST',
        api: '/api/upload-file',
        data: { description: 'test upload' },
        files: {
          file: { filename: 'main.st', content_base64: program.toString('base64'), content_type: 'text/plain' },
        },
      },
    );
    expect(view.body).toEqual({
      status: 'uploaded',
      files: [{ field: 'file', filename: 'main.st', size: program.length, content_type: 'text/plain' }],
      fields: { description: 'test upload' },
    });
  });

  it('returns binary as base64 and Latin-1 text decoded', async () => {
    const binary = await proxy.request({ ip }, { method: 'GET', api: '/api/binary' });
    expect(binary).toMatchObject({ body_encoding: 'base64', content_type: 'application/octet-stream' });
    expect(Buffer.from(binary.body as string, 'base64')).toEqual(
      Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x81, 0xc3, 0x28, 0x0a]),
    );
    expect((await proxy.request({ ip }, { method: 'GET', api: '/api/text' })).body).toBe('café');
  });

  it('follows the runtime redirect and speaks plain HTTP on another allowed port', async () => {
    const view = await proxy.request({ ip }, { method: 'GET', api: '/api/redirect', port: 8080 });
    expect(view).toMatchObject({ status_code: 200, body: { status: 'RUNNING' } });
  });

  it('enforces the size cap and the deadline against the real runtime', async () => {
    const big = await proxy.request({ ip }, { method: 'GET', api: '/api/big', params: { bytes: 2 * 1024 * 1024 } });
    expect(proxyFailureOf(big)).toBe('too_large');
    const impatient = new RuntimeHttpProxy({ timeoutMs: 300, maxBytes: 1024, log: pino({ level: 'silent' }) });
    const slow = await impatient.request({ ip }, { method: 'GET', api: '/api/slow', params: { ms: 5000 } });
    expect(slow).toMatchObject({ status_code: 504, ok: false });
    expect(proxyFailureOf(slow)).toBe('timeout');
  });

  it('refuses every bad command without the runtime seeing a request', async () => {
    // Marker requests that do reach the runtime bracket the table, so the log is known to be current on both sides.
    const loggedUpTo = async (marker: string): Promise<string[]> => {
      await proxy.request({ ip }, { method: 'GET', api: '/api/info', params: { marker } });
      return waitFor(
        async () => {
          const lines = await requestLines();
          const at = lines.findIndex((l) => l.includes(`marker=${marker}`));
          return at >= 0 && lines.slice(0, at + 1);
        },
        { message: `the stand-in to log marker ${marker}` },
      );
    };
    const before = await loggedUpTo(`before-${suffix}`);
    for (const { cmd, names } of BAD_COMMANDS) {
      const view = await proxy.request({ ip }, cmd);
      expect(view, cmd.api).toMatchObject({ status_code: 400, ok: false });
      expect((view.body as { error: string }).error).toContain(names);
      expect(proxyFailureOf(view)).toBe('refused');
    }
    const after = await loggedUpTo(`after-${suffix}`);
    expect(after.slice(before.length)).toEqual([expect.stringContaining(`marker=after-${suffix}`)]);
  });

  it('stops promptly and cleanly on SIGTERM', async () => {
    await (container as Docker.Container).stop({ t: 20 });
    const state = (await (container as Docker.Container).inspect()).State;
    // 0 means the server handled SIGTERM itself; 137 would mean Docker had to SIGKILL it after the grace period.
    expect(state.ExitCode).toBe(0);
  });
});

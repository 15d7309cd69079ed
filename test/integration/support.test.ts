import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type PemPair, TEST_AGENT_CN, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip, dockerReachable } from '../support/docker.js';
import { waitFor } from '../support/wait.js';

const docker = await dockerOrSkip();

let pki: TestPki;
let cloud: TestCloud;
const clients: ClientSocket[] = [];

function connectClient(
  identity: PemPair | undefined,
  extra: { reconnection?: boolean; transports?: string[] } = {},
): ClientSocket {
  const socket = io(cloud.url, {
    transports: extra.transports ?? ['websocket'],
    ca: pki.caPem,
    ...(identity ? { key: identity.keyPem, cert: identity.certPem } : {}),
    reconnection: extra.reconnection ?? false,
    reconnectionDelay: 50,
    reconnectionDelayMax: 100,
    forceNew: true,
  });
  clients.push(socket);
  return socket;
}

function outcome(socket: ClientSocket): Promise<'connected' | string> {
  return new Promise((resolve) => {
    socket.once('connect', () => resolve('connected'));
    socket.once('connect_error', (err) => resolve(`connect_error: ${err.message}`));
  });
}

beforeAll(async () => {
  pki = await makeTestPki();
  cloud = await startTestCloud({ pki });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await cloud.waitForDisconnect(2000);
});

afterAll(async () => {
  await cloud?.close();
  await pki?.cleanup();
});

describe('test PKI', () => {
  it('lays out the agent mTLS folders with the installer subject', async () => {
    for (const dir of [pki.mtlsDir, pki.mtlsNoCnDir, pki.mtlsRogueDir]) {
      expect((await readdir(dir)).sort()).toEqual(['client.crt', 'client.key']);
    }
    expect(pki.client.certPem).toContain('BEGIN CERTIFICATE');
    expect(pki.client.keyPem).toContain('PRIVATE KEY');
    expect(pki.caPem).not.toEqual(pki.server.certPem);
  });

  it('removes only its own files from a caller-supplied folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 't1-pki-given-'));
    try {
      const own = await makeTestPki(dir);
      await own.cleanup();
      expect(await readdir(dir)).toEqual([]);
      await access(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('test cloud: mutual TLS', () => {
  it('accepts an agent with a certificate from its CA and records the CN', async () => {
    const before = cloud.connectedCns.length;
    const client = connectClient(pki.client);
    expect(await outcome(client)).toBe('connected');
    expect(await cloud.waitForConnection(2000)).toBe(TEST_AGENT_CN);
    expect(cloud.connectedCns.slice(before)).toEqual([TEST_AGENT_CN]);
    expect(cloud.connectionCount()).toBe(1);
  });

  it('records the CN with the polling transport too', async () => {
    const client = connectClient(pki.client, { transports: ['polling'] });
    expect(await outcome(client)).toBe('connected');
    expect(await cloud.waitForConnection(2000)).toBe(TEST_AGENT_CN);
  });

  it("records '' for a certificate without CN", async () => {
    const client = connectClient(pki.clientNoCn);
    expect(await outcome(client)).toBe('connected');
    expect(await cloud.waitForConnection(2000)).toBe('');
  });

  it('refuses a client without a certificate', async () => {
    const before = cloud.connectedCns.length;
    const tlsBefore = cloud.tlsErrors.length;
    const client = connectClient(undefined);
    expect(await outcome(client)).toMatch(/^connect_error/);
    expect(cloud.connectedCns.length).toBe(before);
    await waitFor(() => cloud.tlsErrors.length > tlsBefore, { timeoutMs: 2000, message: 'a refused TLS handshake' });
  });

  it('refuses a client certificate signed by another CA', async () => {
    const before = cloud.connectedCns.length;
    const client = connectClient(pki.clientRogue);
    expect(await outcome(client)).toMatch(/^connect_error/);
    expect(cloud.connectedCns.length).toBe(before);
    expect(cloud.connectionCount()).toBe(0);
  });
});

describe('test cloud: requests and recorded events', () => {
  it('round-trips a request through the agent acknowledgement', async () => {
    const client = connectClient(pki.client);
    client.on('echo', (msg: unknown, ack: (...a: unknown[]) => void) => ack({ status: 'success', got: msg }));
    await cloud.waitForConnection(2000);
    expect(await cloud.request('echo', { correlation_id: 7 })).toEqual({
      status: 'success',
      got: { correlation_id: 7 },
    });
    expect(await cloud.request('echo', 'not an object')).toEqual({ status: 'success', got: 'not an object' });
    expect(await cloud.request('echo', null)).toEqual({ status: 'success', got: null });
  });

  it('passes every ack argument through requestRaw, and an empty ack as []', async () => {
    const client = connectClient(pki.client);
    client.on('many', (_msg: unknown, ack: (...a: unknown[]) => void) => ack(1, 'two', { three: 3 }));
    client.on('empty', (_msg: unknown, ack: () => void) => ack());
    await cloud.waitForConnection(2000);
    expect(await cloud.requestRaw('many', {})).toEqual([1, 'two', { three: 3 }]);
    expect(await cloud.request('many', {})).toBe(1);
    expect(await cloud.requestRaw('empty', {})).toEqual([]);
  });

  it('sends no payload at all with requestNoPayload', async () => {
    const client = connectClient(pki.client);
    client.on('bare', (...args: unknown[]) => {
      const ack = args.pop() as (...a: unknown[]) => void;
      ack({ argCount: args.length });
    });
    await cloud.waitForConnection(2000);
    expect(await cloud.requestNoPayload('bare')).toEqual({ argCount: 0 });
  });

  it('rejects with a clear error when the agent never acknowledges', async () => {
    connectClient(pki.client);
    await cloud.waitForConnection(2000);
    await expect(cloud.request('ignored_topic', {}, 200)).rejects.toThrow(
      'the agent did not acknowledge "ignored_topic" within 200 ms',
    );
  });

  it('rejects at once when no agent is connected', async () => {
    await expect(cloud.request('anything', {})).rejects.toThrow(/no agent is connected/);
  });

  it('delivers emitNoAck payloads to the agent', async () => {
    const client = connectClient(pki.client);
    const got = new Promise<unknown[]>((resolve) => client.on('notify', (...args: unknown[]) => resolve(args)));
    await cloud.waitForConnection(2000);
    cloud.emitNoAck('notify', { a: 1 });
    expect(await got).toEqual([{ a: 1 }]);
  });

  it('records heartbeats apart from other agent events', async () => {
    const client = connectClient(pki.client);
    await cloud.waitForConnection(2000);
    const before = cloud.heartbeats.length;
    client.emit('heartbeat', { status: 'active', seq: 1 });
    client.emit('start_device', { action: 'start_device', correlation_id: 41, success: true });
    client.emit('heartbeat', { status: 'active', seq: 2 });
    const beats = await cloud.waitForHeartbeats(before + 2, 2000);
    expect(beats.slice(before).map((b) => b.payload)).toEqual([
      { status: 'active', seq: 1 },
      { status: 'active', seq: 2 },
    ]);
    const ev = await cloud.waitForEvent(
      'start_device',
      (p) => (p as { correlation_id?: number }).correlation_id === 41,
    );
    expect(ev.payload).toEqual({ action: 'start_device', correlation_id: 41, success: true });
    expect(cloud.events.some((e) => e.event === 'heartbeat')).toBe(false);
  });

  it('names what it waited for when an event never comes', async () => {
    await expect(cloud.waitForEvent('never_sent', undefined, 100)).rejects.toThrow(/"never_sent" event/);
    await expect(cloud.waitForHeartbeats(10_000, 100)).rejects.toThrow(/10000 heartbeats in total.*recorded so far/);
  });
});

describe('test cloud: going away and coming back', () => {
  it('restarts on the same port, keeps history, and a reconnecting agent comes back', async () => {
    const client = connectClient(pki.client, { reconnection: true });
    await cloud.waitForConnection(2000);
    client.emit('heartbeat', { status: 'active', seq: 'before-restart' });
    const beats = cloud.heartbeats.length + 1;
    await cloud.waitForHeartbeats(beats, 2000);
    const port = cloud.port;
    const connections = cloud.connectedCns.length;

    const reason = new Promise<string>((resolve) => client.once('disconnect', resolve));
    await cloud.stop();
    expect(await reason).toBe('transport close');
    expect(cloud.connectionCount()).toBe(0);
    expect(cloud.disconnects.at(-1)?.reason).toBe('transport close');
    await cloud.restart();

    expect(cloud.port).toBe(port);
    expect(cloud.url).toBe(`https://127.0.0.1:${port}`);
    expect(await cloud.waitForConnection(5000)).toBe(TEST_AGENT_CN);
    expect(cloud.connectedCns.length).toBe(connections + 1);
    expect(cloud.heartbeats.length).toBe(beats);
  });

  it('kickAgents disconnects from the server side without an automatic reconnection', async () => {
    const client = connectClient(pki.client, { reconnection: true });
    await cloud.waitForConnection(2000);
    const reason = new Promise<string>((resolve) => client.once('disconnect', resolve));
    cloud.kickAgents();
    expect(await reason).toBe('io server disconnect');
    await cloud.waitForDisconnect(2000);
  });

  it('dropConnections cuts the link but keeps listening', async () => {
    const client = connectClient(pki.client, { reconnection: true });
    await cloud.waitForConnection(2000);
    const connections = cloud.connectedCns.length;
    const reason = new Promise<string>((resolve) => client.once('disconnect', resolve));
    cloud.dropConnections();
    expect(await reason).toBe('transport close');
    await waitFor(() => cloud.connectedCns.length > connections && cloud.connectionCount() === 1, {
      timeoutMs: 5000,
      message: 'the agent to reconnect',
    });
  });
});

describe('waitFor', () => {
  it('resolves with the first truthy value and retries through throws', async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls += 1;
        if (calls < 3) throw new Error('not yet');
        return { calls };
      },
      { intervalMs: 1 },
    );
    expect(value).toEqual({ calls: 3 });
  });

  it('times out with the message and the last error', async () => {
    await expect(
      waitFor(
        () => {
          throw new Error('still booting');
        },
        { timeoutMs: 50, intervalMs: 5, message: 'the agent' },
      ),
    ).rejects.toThrow('timed out after 50 ms waiting for the agent (last error: still booting)');
  });

  it('abandons an attempt that hangs past the deadline', async () => {
    await expect(waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 50 })).rejects.toThrow(
      /still running at the deadline/,
    );
  });
});

describe('docker gate', () => {
  it('reports an engine that does not exist as unreachable', async () => {
    expect(await dockerReachable('/nonexistent/t1-docker.sock')).toBe(false);
    expect(await dockerReachable('unix:///nonexistent/t1-docker.sock')).toBe(false);
  });

  it.skipIf(!docker)('reaches the local engine', async () => {
    expect(await dockerReachable()).toBe(true);
  });
});

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { type Agent, startAgent } from '../../src/actors/agent.js';
import { parseConfig } from '../../src/config.js';
import { connectCtl, type CtlConnection } from '../../src/io/local/ctlClient.js';
import { readEndpointFile } from '../../src/io/local/endpointFile.js';
import { ForwardSocket } from '../../src/io/inspector/forwardSocket.js';
import { sleep, waitFor } from '../support/wait.js';

/**
 * --inspect-forward against a real WebSocket server standing in for Stately's inspector (@statelyai/inspect's
 * protocol: one JSON inspection event per message, `@xstate.actor`, `@xstate.event`, `@xstate.snapshot`), while
 * the whole agent runs in local mode: its cloud link connects over mTLS, and its sidecar link, with no sidecar
 * there, keeps trying — a steady stream of events. No Docker engine: nothing here touches the shared engines.
 */
interface Received {
  type: string;
  name?: string;
  sessionId: string;
  definition?: string;
  snapshot?: { value?: unknown; context?: Record<string, unknown> };
  event?: Record<string, unknown>;
}

function inspectorServer(port = 0) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  const messages: Received[] = [];
  const raw: string[] = [];
  wss.on('connection', (socket) => {
    socket.on('message', (data) => {
      raw.push(data.toString());
      messages.push(JSON.parse(data.toString()) as Received);
    });
  });
  const listening = new Promise<number>((resolve) =>
    wss.on('listening', () => resolve((wss.address() as AddressInfo).port)),
  );
  return {
    messages,
    raw,
    listening,
    connections: () => wss.clients.size,
    /** Goes away as a killed process would: every connection cut without a closing handshake. */
    vanish: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

describe('--inspect-forward', () => {
  let server: ReturnType<typeof inspectorServer>;
  let agent: Agent;
  let ctl: CtlConnection;
  let dataDir: string;
  let port: number;
  let correlation = 100;
  const ask = (topic: string) =>
    ctl.request(topic, { correlation_id: correlation++ }, 15_000) as Promise<Record<string, unknown>>;

  beforeAll(async () => {
    server = inspectorServer();
    port = await server.listening;
    dataDir = await mkdtemp(join(tmpdir(), 'i15f-agent-'));
    const config = await parseConfig(
      [
        '--local',
        '--data-dir',
        dataDir,
        '--netmon-socket',
        join(dataDir, 'no-sidecar.sock'),
        '--inspect-forward',
        `ws://127.0.0.1:${port}`,
      ],
      { DOCKER_HOST: 'unix:///nonexistent/i15f-docker.sock' },
    );
    agent = await startAgent(config, pino({ level: 'silent' }));
    const endpoint = await readEndpointFile(join(dataDir, 'local', 'endpoint.json'));
    const [cert, key, ca] = await Promise.all(
      [endpoint.cert_file, endpoint.key_file, endpoint.ca_file].map((f) => readFile(f, 'utf8')),
    );
    ctl = await connectCtl({ url: endpoint.url, cert: cert!, key: key!, ca: ca! });
    await agent.cloud.whenOnline();
  }, 90_000);

  afterAll(async () => {
    ctl?.close();
    await agent?.stop();
    await server?.vanish();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  const cloudSession = () => agent.cloud.actorRef().sessionId;
  const supervisorSession = () => agent.supervisor.actorRefs()[0]!.ref.sessionId;
  const announced = (messages: Received[], session: string, name: string) =>
    messages.some((m) => m.type === '@xstate.actor' && m.sessionId === session && m.name === name && !!m.definition);

  it('receives the live actors with their machines, then their events and state changes, without secrets', async () => {
    await waitFor(
      () =>
        announced(server.messages, supervisorSession(), 'supervisor') &&
        announced(server.messages, cloudSession(), 'link') &&
        server.messages.some((m) => m.type === '@xstate.snapshot' && m.sessionId === cloudSession()),
      { timeoutMs: 30_000, message: 'the supervisor and the cloud link announced, and a cloud link snapshot' },
    );
    // The definition is the machine itself, as Stately's tools draw it.
    const supervisor = server.messages.find((m) => m.type === '@xstate.actor' && m.name === 'supervisor')!;
    expect(Object.keys(JSON.parse(supervisor.definition!).states)).toContain('serving');

    // The link came online after the forwarder attached: its transition was forwarded as it happened.
    const cloudStates = server.messages
      .filter((m) => m.type === '@xstate.snapshot' && m.sessionId === cloudSession())
      .map((m) => m.snapshot?.value);
    expect(cloudStates).toContain('online');
    // Invoked steps are actors of their own: the link's connection attempt is one.
    expect(
      server.messages.some((m) => m.type === '@xstate.event' && /^xstate\.done\.actor\./.test(String(m.event?.type))),
    ).toBe(true);

    // Contexts are the page's summaries: flat, and no key, certificate or token text.
    for (const m of server.messages) {
      for (const [key, value] of Object.entries(m.snapshot?.context ?? {})) {
        expect(value === null || typeof value !== 'object', `${m.type} context.${key}: ${JSON.stringify(value)}`).toBe(
          true,
        );
      }
    }
    // (The cloud session's own snapshot carries the Socket.IO client and its TLS options: CA, certificate, key.)
    const leaks = server.raw.filter((r) => /-----BEGIN|PRIVATE KEY/.test(r));
    expect(leaks.map((l) => l.slice(0, 200))).toEqual([]);
  }, 60_000);

  it('keeps serving when the inspector goes away, and forwards again once it is back', async () => {
    await server.vanish();
    // The agent goes on: its link stays online and requests are answered (without Docker, with that sentence).
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(agent.cloud.state()).toBe('online');
    const reply = await ask('list_devices');
    expect(String(reply.error)).toMatch(/^Docker engine unavailable at unix:\/\/\/nonexistent\/i15f-docker\.sock/);

    // A new inspector on the same address: the agent reconnects by itself, announces its actors again (this
    // inspector has seen none), and the events that go on are forwarded.
    server = inspectorServer(port);
    await server.listening;
    await waitFor(() => announced(server.messages, supervisorSession(), 'supervisor'), {
      timeoutMs: 45_000,
      message: 'the agent to reconnect to the new inspector and announce the supervisor',
    });
    expect(announced(server.messages, cloudSession(), 'link')).toBe(true);
    const seen = server.messages.length;
    // The sidecar link, with no sidecar, backs off and tries again: fresh events keep arriving.
    await waitFor(() => server.messages.slice(seen).some((m) => m.type === '@xstate.snapshot'), {
      timeoutMs: 45_000,
      message: 'events after the reconnect',
    });
    expect(server.connections()).toBe(1);
    expect(agent.cloud.state()).toBe('online');
  }, 120_000);
});

describe('the forward socket', () => {
  it('holds the newest events while no inspector listens, and sends each of them once', async () => {
    // A free port, then nobody on it.
    const probe = inspectorServer();
    const port = await probe.listening;
    await probe.vanish();
    const socket = new ForwardSocket({
      url: `ws://127.0.0.1:${port}`,
      log: pino({ level: 'silent' }),
      maxQueued: 50,
      retryMs: 100,
      maxRetryMs: 200,
    });
    socket.start();
    try {
      for (let n = 0; n < 500; n++) socket.send({ n });
      // Refused connections in the meantime change nothing.
      await sleep(500);
      const server = inspectorServer(port);
      await server.listening;
      await waitFor(() => server.raw.length >= 50, { timeoutMs: 10_000, message: 'the backlog' });
      socket.send({ n: 500 });
      await waitFor(() => server.raw.length === 51, { timeoutMs: 10_000, message: 'the next event' });
      await sleep(300);
      expect(server.raw.map((r) => (JSON.parse(r) as { n: number }).n)).toEqual(
        Array.from({ length: 51 }, (_, i) => 450 + i),
      );
      await server.vanish();
      // Another inspector later gets what happens from then on, not the old backlog again.
      const next = inspectorServer(port);
      await next.listening;
      await waitFor(() => next.connections() === 1, { timeoutMs: 10_000, message: 'the reconnect' });
      await sleep(100);
      socket.send({ n: 501 });
      await waitFor(() => next.raw.length >= 1, { timeoutMs: 10_000, message: 'the event after the reconnect' });
      await sleep(300);
      expect(next.raw.map((r) => (JSON.parse(r) as { n: number }).n)).toEqual([501]);
      await next.vanish();
    } finally {
      socket.stop();
    }
  }, 30_000);
});

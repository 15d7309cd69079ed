import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type ServerOptions, Server as SocketIoServer, type Socket } from 'socket.io';
import type { TestPki } from './certs.js';
import { waitFor } from './wait.js';

/**
 * A real Autonomy Edge Cloud stand-in for tests: HTTPS with required client certificates (mTLS) and a
 * Socket.IO 4 server on the default namespace, the way the cloud talks to agents (docs/protocol.md#cloud-connection).
 *
 *   const pki = await makeTestPki();
 *   const cloud = await startTestCloud({ pki });
 *   // start the agent with --mtls-dir pki.mtlsDir, the cloud URL cloud.url and CA pki.caFile
 *   expect(await cloud.waitForConnection(10_000)).toBe('07048933');
 *   const reply = await cloud.request('get_device_status', { correlation_id: 1, device_id: 'plc1' });
 *   await cloud.close(); await pki.cleanup();
 */

export interface RecordedHeartbeat {
  at: number;
  payload: unknown;
}

export interface RecordedEvent {
  at: number;
  event: string;
  /** The first argument the agent sent (undefined when it sent none). */
  payload: unknown;
  /** Every argument the agent sent, an ack callback left out. */
  args: unknown[];
}

export interface RecordedDisconnect {
  at: number;
  cn: string;
  /** The server-side Socket.IO reason, e.g. `transport close`, `client namespace disconnect`. */
  reason: string;
}

export interface TestCloud {
  /** `https://127.0.0.1:<port>` (the server certificate carries IP:127.0.0.1 and DNS:localhost). */
  readonly url: string;
  readonly port: number;
  /** Client certificate CN of every accepted Socket.IO connection, in order (`''` for a certificate without CN). */
  readonly connectedCns: string[];
  /** Every heartbeat event received, in order; kept across stop()/restart(). */
  readonly heartbeats: RecordedHeartbeat[];
  /** Every other event the agent emitted unasked (e.g. `start_device` completion events); kept across restart(). */
  readonly events: RecordedEvent[];
  /** Every server-side disconnect of an agent socket, in order. */
  readonly disconnects: RecordedDisconnect[];
  /** TLS handshakes the server refused (no client certificate, unknown CA, ...), in order. */
  readonly tlsErrors: Array<{ at: number; message: string }>;
  /** Number of live agent sockets right now. */
  connectionCount(): number;
  /** Resolves with the CN of the live agent socket (at once when one is already connected). */
  waitForConnection(timeoutMs?: number): Promise<string>;
  /** Resolves once no agent socket is live. */
  waitForDisconnect(timeoutMs?: number): Promise<void>;
  /** Emits `topic` with one payload (any JSON value, also invalid ones) and resolves with the first ack argument. */
  request(topic: string, payload: unknown, timeoutMs?: number): Promise<unknown>;
  /** As request(), but resolves with every ack argument (`[]` for an empty ack). */
  requestRaw(topic: string, payload: unknown, timeoutMs?: number): Promise<unknown[]>;
  /** Emits `topic` with no payload at all, asking for an ack; resolves with the first ack argument. */
  requestNoPayload(topic: string, timeoutMs?: number): Promise<unknown>;
  /** Emits `topic` with exactly these arguments, asking for an ack; resolves with every ack argument. */
  requestArgs(topic: string, args: unknown[], timeoutMs?: number): Promise<unknown[]>;
  /** Emits without asking for an ack. `emitNoAck(topic)` sends no payload; `emitNoAck(topic, p)` sends p. */
  emitNoAck(topic: string, ...payload: unknown[]): void;
  /** Resolves once at least `n` heartbeats were recorded in total (history included); returns a copy of them. */
  waitForHeartbeats(n: number, timeoutMs?: number): Promise<RecordedHeartbeat[]>;
  /** Resolves with the first recorded event named `name` (history included) that the predicate accepts. */
  waitForEvent(
    name: string,
    predicate?: (payload: unknown, event: RecordedEvent) => boolean,
    timeoutMs?: number,
  ): Promise<RecordedEvent>;
  /** Server-initiated Socket.IO disconnect of every agent (client reason `io server disconnect`: no auto-reconnect). */
  kickAgents(): void;
  /** Cuts every TCP connection but keeps listening: a network blip (client reason `transport close`). */
  dropConnections(): void;
  /** Cuts every connection and closes the listener, freeing the port: the cloud went away. Idempotent. */
  stop(): Promise<void>;
  /** Listens again on the same port with the same certificates; recorded history is kept. */
  restart(): Promise<void>;
  /** stop() for good; restart() is refused afterwards. */
  close(): Promise<void>;
}

export interface StartTestCloudOptions {
  pki: TestPki;
  /** Port on `host`; 0 or absent picks a free one. restart() reuses whatever was bound first. */
  port?: number;
  /** Address to listen on, default 127.0.0.1 (the host's bridge address for an agent in a container). */
  host?: string;
  /** Extra Socket.IO server options (e.g. a short pingInterval to notice a dead agent quickly). */
  serverOptions?: Partial<ServerOptions>;
}

const DEFAULT_TIMEOUT_MS = 5000;

function commonName(tls: TLSSocket): string {
  const cn = tls.getPeerCertificate()?.subject?.CN as string | string[] | undefined;
  if (Array.isArray(cn)) return cn[0] ?? '';
  return cn ?? '';
}

export async function startTestCloud(opts: StartTestCloudOptions): Promise<TestCloud> {
  const { pki } = opts;
  const connectedCns: string[] = [];
  const heartbeats: RecordedHeartbeat[] = [];
  const events: RecordedEvent[] = [];
  const disconnects: RecordedDisconnect[] = [];
  const tlsErrors: Array<{ at: number; message: string }> = [];
  // Oldest first; request() talks to the newest, which is the live agent after a reconnection.
  const live: Array<{ socket: Socket; cn: string }> = [];
  // The CN is read while the handshake request's TLS socket is certainly open (with the polling transport it is
  // closed by the time the connection handler runs), then looked up by that same request object.
  const cnByRequest = new WeakMap<IncomingMessage, string>();

  let port = opts.port ?? 0;
  let httpsServer: https.Server | undefined;
  let io: SocketIoServer | undefined;
  let rawSockets = new Set<TLSSocket>();
  let closed = false;

  function onConnection(socket: Socket): void {
    const tls = socket.request.socket as TLSSocket;
    const cn = cnByRequest.get(socket.request) ?? commonName(tls);
    connectedCns.push(cn);
    const entry = { socket, cn };
    live.push(entry);
    socket.onAny((event: string, ...args: unknown[]) => {
      const data = typeof args.at(-1) === 'function' ? args.slice(0, -1) : args;
      if (event === 'heartbeat') heartbeats.push({ at: Date.now(), payload: data[0] });
      else events.push({ at: Date.now(), event, payload: data[0], args: data });
    });
    socket.on('disconnect', (reason) => {
      const i = live.indexOf(entry);
      if (i >= 0) live.splice(i, 1);
      disconnects.push({ at: Date.now(), cn, reason });
    });
  }

  async function listen(): Promise<void> {
    const server = https.createServer({
      key: pki.server.keyPem,
      cert: pki.server.certPem,
      ca: pki.caPem,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const sockets = new Set<TLSSocket>();
    server.on('secureConnection', (s: TLSSocket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    server.on('tlsClientError', (err) => tlsErrors.push({ at: Date.now(), message: err.message }));
    const ioServer = new SocketIoServer(server, {
      serveClient: false,
      ...opts.serverOptions,
      allowRequest: (req, callback) => {
        const tls = req.socket as TLSSocket;
        if (!tls.authorized) {
          callback('client certificate not authorized', false);
          return;
        }
        cnByRequest.set(req, commonName(tls));
        callback(null, true);
      },
    });
    ioServer.on('connection', onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    port = (server.address() as AddressInfo).port;
    httpsServer = server;
    io = ioServer;
    rawSockets = sockets;
  }

  function dropConnections(): void {
    // Destroying the TLS sockets (instead of sending a Socket.IO disconnect) is what a crash or a network cut
    // looks like to the agent: reason `transport close`, and its automatic reconnection kicks in.
    for (const s of rawSockets) s.destroy();
  }

  async function stop(): Promise<void> {
    const server = httpsServer;
    const ioServer = io;
    if (!server || !ioServer) return;
    httpsServer = undefined;
    io = undefined;
    dropConnections();
    // Let the cut reach the Socket.IO sockets first, so each is recorded as `transport close` (as on the agent's
    // side) rather than io.close()'s own `server shutting down`.
    await waitFor(() => live.length === 0, { timeoutMs: 1000, intervalMs: 5 }).catch(() => undefined);
    server.closeAllConnections();
    await ioServer.close();
  }

  function agent(): Socket {
    const newest = live.at(-1);
    if (!newest) throw new Error('no agent is connected to the test cloud: await cloud.waitForConnection() first');
    return newest.socket;
  }

  function requestArgs(topic: string, args: unknown[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<unknown[]> {
    let socket: Socket;
    try {
      socket = agent();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<unknown[]>((resolve, reject) => {
      const onDisconnect = (reason: string) =>
        reject(new Error(`the agent disconnected (${reason}) before acknowledging "${topic}"`));
      socket.once('disconnect', onDisconnect);
      socket.timeout(timeoutMs).emit(topic, ...args, (err: Error | null, ...ack: unknown[]) => {
        socket.off('disconnect', onDisconnect);
        if (err) reject(new Error(`the agent did not acknowledge "${topic}" within ${timeoutMs} ms`));
        else resolve(ack);
      });
    });
  }

  await listen();

  const cloud: TestCloud = {
    get url() {
      return `https://${opts.host ?? '127.0.0.1'}:${port}`;
    },
    get port() {
      return port;
    },
    connectedCns,
    heartbeats,
    events,
    disconnects,
    tlsErrors,
    connectionCount: () => live.length,
    async waitForConnection(timeoutMs = DEFAULT_TIMEOUT_MS) {
      const entry = await waitFor(() => live.at(-1), {
        timeoutMs,
        intervalMs: 10,
        message: `an agent to connect to ${cloud.url}`,
      });
      return entry.cn;
    },
    async waitForDisconnect(timeoutMs = DEFAULT_TIMEOUT_MS) {
      await waitFor(() => live.length === 0, { timeoutMs, intervalMs: 10, message: 'every agent to disconnect' });
    },
    requestArgs,
    async request(topic, payload, timeoutMs) {
      return (await requestArgs(topic, [payload], timeoutMs))[0];
    },
    requestRaw: (topic, payload, timeoutMs) => requestArgs(topic, [payload], timeoutMs),
    async requestNoPayload(topic, timeoutMs) {
      return (await requestArgs(topic, [], timeoutMs))[0];
    },
    emitNoAck(topic, ...payload) {
      agent().emit(topic, ...payload);
    },
    async waitForHeartbeats(n, timeoutMs = DEFAULT_TIMEOUT_MS) {
      await waitFor(
        () => {
          if (heartbeats.length >= n) return true;
          throw new Error(`${heartbeats.length} recorded so far`);
        },
        { timeoutMs, intervalMs: 10, message: `${n} heartbeats in total` },
      );
      return heartbeats.slice();
    },
    waitForEvent(name, predicate, timeoutMs = DEFAULT_TIMEOUT_MS) {
      return waitFor(() => events.find((e) => e.event === name && (predicate ? predicate(e.payload, e) : true)), {
        timeoutMs,
        intervalMs: 10,
        message: `a "${name}" event from the agent`,
      });
    },
    kickAgents() {
      io?.disconnectSockets(true);
    },
    dropConnections,
    stop,
    async restart() {
      if (closed) throw new Error('the test cloud was closed; start a new one');
      await stop();
      await listen();
    },
    async close() {
      closed = true;
      await stop();
    },
  };
  return cloud;
}

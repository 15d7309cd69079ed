import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { Server as SocketIoServer, type Socket } from 'socket.io';

/**
 * The embedded cloud endpoint of local mode: an HTTPS Socket.IO server on 127.0.0.1 that, like the Autonomy Edge
 * Cloud, requires a client certificate — here one signed by the local CA. Two kinds of client connect:
 *
 * - the agent (its certificate's CN is the agent id), over its ordinary cloud link, unchanged;
 * - ctl (CN `orchestrator-ctl`), which emits topics exactly as the cloud would. Each request is relayed to the
 *   agent and the agent's ack is relayed back; the agent's own events (heartbeats, start/stop/restart completions)
 *   go to every ctl, so it can show progress.
 *
 * Events named `local:*` are answered here and never reach the agent (`local:info`: who is connected).
 */

export const LOCAL_INFO_EVENT = 'local:info';

export interface LocalEndpointOptions {
  /** Server certificate and key (PEM) and the CA clients must be signed by. */
  tls: { key: string; cert: string; ca: string };
  /** CN of the agent's client certificate. */
  agentCommonName: string;
  /** CN of ctl's client certificate. */
  ctlCommonName: string;
  /** 0 (the default) takes a free port; the chosen one is in `url`. */
  port?: number;
  log: Logger;
  /** What `local:info` answers besides the connection facts (e.g. the agent's version). */
  info?: () => Record<string, unknown>;
  /**
   * How long a relayed request may wait for the agent's ack. Longer than any of the agent's own topic deadlines,
   * so that the agent's more precise timeout reply arrives first.
   */
  relayTimeoutMs?: number;
}

export interface LocalEndpointInfo {
  url: string;
  agent_connected: boolean;
  agent_id: string;
  agent_connected_at: string | null;
  ctl_clients: number;
  [key: string]: unknown;
}

type Ack = (...reply: unknown[]) => void;

function commonName(tls: TLSSocket): string {
  const cn = tls.getPeerCertificate()?.subject?.CN as string | string[] | undefined;
  return (Array.isArray(cn) ? cn[0] : cn) ?? '';
}

function correlationOf(payload: unknown): unknown {
  if (payload !== null && typeof payload === 'object' && 'correlation_id' in payload) {
    return (payload as { correlation_id: unknown }).correlation_id ?? null;
  }
  return null;
}

export class LocalEndpoint {
  private server: https.Server | undefined;
  private io: SocketIoServer | undefined;
  private agent: { socket: Socket; since: Date } | null = null;
  private readonly ctls = new Set<Socket>();
  private readonly roleByRequest = new WeakMap<IncomingMessage, 'agent' | 'ctl'>();
  private port = 0;

  constructor(private readonly opts: LocalEndpointOptions) {}

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const { log } = this.opts;
    const server = https.createServer({
      key: this.opts.tls.key,
      cert: this.opts.tls.cert,
      ca: this.opts.tls.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    });
    server.on('tlsClientError', (err) =>
      log.warn({ step: 'local.tls_refused', err: err.message }, 'a client without a local certificate was refused'),
    );
    const io = new SocketIoServer(server, {
      serveClient: false,
      // The CN is read while the handshake request's TLS socket is certainly open.
      allowRequest: (req, callback) => {
        const tls = req.socket as TLSSocket;
        if (!tls.authorized) {
          callback('client certificate not signed by the local CA', false);
          return;
        }
        const cn = commonName(tls);
        const role = cn === this.opts.agentCommonName ? 'agent' : cn === this.opts.ctlCommonName ? 'ctl' : null;
        if (role === null) {
          log.warn({ step: 'local.client_refused', cn }, 'a local certificate of an unknown client was refused');
          callback(`unknown client ${cn}`, false);
          return;
        }
        this.roleByRequest.set(req, role);
        callback(null, true);
      },
    });
    io.on('connection', (socket) => {
      const role = this.roleByRequest.get(socket.request);
      if (role === 'agent') this.onAgent(socket);
      else if (role === 'ctl') this.onCtl(socket);
      else socket.disconnect(true);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Loopback only: the endpoint drives the agent, so nothing off this machine may reach it.
      server.listen(this.opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    this.io = io;
    log.info({ step: 'local.endpoint.listening', url: this.url }, 'local endpoint listening');
  }

  async stop(): Promise<void> {
    const { server, io } = this;
    this.server = undefined;
    this.io = undefined;
    if (!server || !io) return;
    io.disconnectSockets(true);
    server.closeAllConnections();
    await io.close();
    this.opts.log.info({ step: 'local.endpoint.stopped' }, 'local endpoint stopped');
  }

  info(): LocalEndpointInfo {
    return {
      ...this.opts.info?.(),
      url: this.url,
      agent_connected: this.agent !== null,
      agent_id: this.opts.agentCommonName,
      agent_connected_at: this.agent?.since.toISOString() ?? null,
      ctl_clients: this.ctls.size,
    };
  }

  private onAgent(socket: Socket): void {
    const { log } = this.opts;
    // The newest connection is the live agent (a reconnect may overtake the old socket's close).
    this.agent?.socket.disconnect(true);
    const entry = { socket, since: new Date() };
    this.agent = entry;
    log.info({ step: 'local.agent.connected' }, 'agent connected to the local endpoint');
    socket.onAny((event: string, ...args: unknown[]) => {
      const payloads = typeof args.at(-1) === 'function' ? args.slice(0, -1) : args;
      for (const ctl of this.ctls) ctl.emit(event, ...payloads);
    });
    socket.on('disconnect', (reason) => {
      if (this.agent === entry) this.agent = null;
      log.info({ step: 'local.agent.disconnected', reason }, 'agent left the local endpoint');
    });
  }

  private onCtl(socket: Socket): void {
    const { log } = this.opts;
    this.ctls.add(socket);
    log.debug({ step: 'local.ctl.connected' }, 'ctl connected');
    socket.on('disconnect', () => this.ctls.delete(socket));
    socket.onAny((topic: string, ...args: unknown[]) => {
      const ack = typeof args.at(-1) === 'function' ? (args.at(-1) as Ack) : null;
      const payloads = ack ? args.slice(0, -1) : args;
      if (topic === LOCAL_INFO_EVENT) {
        ack?.(this.info());
        return;
      }
      this.relay(topic, payloads, ack);
    });
  }

  private relay(topic: string, payloads: unknown[], ack: Ack | null): void {
    const { log } = this.opts;
    const correlation_id = correlationOf(payloads[0]);
    const started = Date.now();
    const agent = this.agent?.socket;
    const refuse = (error: string) => {
      log.info({ step: 'local.relay', topic, correlation_id, status: 'error', error }, 'request not relayed');
      ack?.({ status: 'error', error, action: topic, correlation_id });
    };
    if (!agent) {
      refuse(
        'The agent is not connected to the local endpoint: it connects within seconds of starting. ' +
          'Retry in a moment; if this persists, read the agent log.',
      );
      return;
    }
    if (!ack) {
      agent.emit(topic, ...payloads);
      return;
    }
    const timeoutMs = this.opts.relayTimeoutMs ?? 60_000;
    agent.timeout(timeoutMs).emit(topic, ...payloads, (err: Error | null, ...reply: unknown[]) => {
      if (err) {
        refuse(`The agent did not answer ${topic} within ${timeoutMs / 1000} s; check it with "ctl status".`);
        return;
      }
      const first = reply[0] as { status?: unknown } | undefined;
      log.info(
        { step: 'local.relay', topic, correlation_id, duration_ms: Date.now() - started, status: first?.status },
        'request relayed',
      );
      ack(...reply);
    });
  }
}

import type { Logger } from 'pino';
import { io, type Socket } from 'socket.io-client';
import type { ClientIdentity } from './identity.js';

/** Handler for one incoming cloud event: the topic and Socket.IO's raw arguments (the ack, if any, is last). */
export type IncomingHandler = (topic: string, args: unknown[]) => void;

/** One live, authenticated connection to the cloud. A new one is made for every connection attempt. */
export interface CloudSession {
  readonly id: string;
  /** Sends an event without asking for an ack. Returns false when the connection is already gone. */
  emit(event: string, payload: object): boolean;
  /** Incoming events. Only one handler; set before any event can matter (right after connect resolves). */
  onIncoming(handler: IncomingHandler): void;
  /** Called once when the connection ends for any reason other than `close()`. */
  onClosed(handler: (reason: string) => void): void;
  close(): void;
}

export interface CloudConnectorOptions {
  url: string;
  identity: ClientIdentity;
  log: Logger;
  /** How long one attempt may take, TLS and Socket.IO handshake included. */
  connectTimeoutMs?: number;
}

export class CloudConnectError extends Error {
  override readonly name = 'CloudConnectError';
}

/**
 * Opens mutually-authenticated Socket.IO connections (docs/protocol.md#cloud-connection). Socket.IO's own reconnection
 * is off: the cloud-link machine owns retries and backoff, so there is exactly one place that decides when to reconnect
 * and exactly one heartbeat loop per live session.
 */
export class CloudConnector {
  private seq = 0;

  constructor(private readonly opts: CloudConnectorOptions) {}

  connect(): Promise<CloudSession> {
    const { url, identity, log } = this.opts;
    const timeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    const id = `session-${++this.seq}`;
    const socket: Socket = io(url, {
      // Websocket only: polling is ~300x slower on loopback and the server accepts both (platform-notes).
      transports: ['websocket'],
      reconnection: false,
      autoConnect: false,
      forceNew: true,
      timeout: timeoutMs,
      key: identity.key,
      cert: identity.cert,
      ca: identity.ca,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    } as Parameters<typeof io>[1]);

    return new Promise<CloudSession>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new CloudConnectError(`no answer from ${url} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const fail = (error: Error) => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.disconnect();
        reject(error);
      };
      socket.once('connect_error', (error: Error & { description?: unknown }) => {
        fail(new CloudConnectError(`cannot connect to ${url}: ${describeConnectError(error)}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('connect_error');
        log.debug({ session: id }, 'cloud socket connected');
        resolve(new SocketSession(id, socket));
      });
      socket.connect();
    });
  }
}

class SocketSession implements CloudSession {
  private closedByUs = false;

  constructor(
    readonly id: string,
    private readonly socket: Socket,
  ) {}

  emit(event: string, payload: object): boolean {
    if (!this.socket.connected) return false;
    this.socket.emit(event, payload);
    return true;
  }

  onIncoming(handler: IncomingHandler): void {
    this.socket.offAny();
    this.socket.onAny((topic: string, ...args: unknown[]) => handler(topic, args));
  }

  onClosed(handler: (reason: string) => void): void {
    this.socket.once('disconnect', (reason: string) => {
      if (!this.closedByUs) handler(reason);
    });
  }

  close(): void {
    this.closedByUs = true;
    this.socket.offAny();
    this.socket.disconnect();
  }
}

/** Socket.IO wraps transport failures; the useful part (TLS alert, ECONNREFUSED) sits in `description`. */
function describeConnectError(error: Error & { description?: unknown }): string {
  const inner = error.description;
  if (inner instanceof Error) return `${error.message} (${inner.message})`;
  if (inner && typeof inner === 'object' && 'message' in inner) return `${error.message} (${String(inner.message)})`;
  return error.message;
}

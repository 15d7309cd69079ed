import type { Logger } from 'pino';
import { io, type Socket } from 'socket.io-client';
import { displayUrl, scrubUrlCredentials } from '../../model/urls.js';
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
  /**
   * Largest message accepted from the cloud, in bytes after decompression (--max-message-bytes). A larger one makes
   * the WebSocket library close the connection with code 1009 before any of it reaches a handler.
   */
  maxMessageBytes?: number;
}

/** Default of --max-message-bytes: a 32 MiB base64 upload (a 24 MiB program) plus 4 MiB for the rest of the message. */
export const DEFAULT_MAX_MESSAGE_BYTES = 36 * 1024 * 1024;

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
    // What errors and logs say: the URL without its user and password.
    const shown = displayUrl(url);
    const timeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    const maxMessageBytes = this.opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
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
      // Passed on to the WebSocket library (ws), whose default is 100 MiB: it counts decompressed bytes as they
      // arrive and closes the connection as soon as a message exceeds this, so an oversize one is never buffered whole.
      maxPayload: maxMessageBytes,
    } as Parameters<typeof io>[1]);

    return new Promise<CloudSession>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new CloudConnectError(`no answer from ${shown} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const fail = (error: Error) => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.disconnect();
        reject(error);
      };
      socket.once('connect_error', (error: Error & { description?: unknown }) => {
        fail(new CloudConnectError(`cannot connect to ${shown}: ${scrubUrlCredentials(describeConnectError(error))}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('connect_error');
        log.debug({ session: id }, 'cloud socket connected');
        resolve(new SocketSession(id, socket, log, maxMessageBytes));
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
    private readonly log: Logger,
    private readonly maxMessageBytes: number,
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
    this.socket.once('disconnect', (reason: string, description?: unknown) => {
      if (this.closedByUs) return;
      const cause = innerMessage(description);
      if (cause === OVERSIZE) {
        // The request in that message is lost with the connection: its ack cannot be sent, the cloud's own timeout
        // answers it there. Everything else goes on after the reconnection.
        this.log.warn(
          { session: this.id, step: 'cloud.message_too_large', limit_bytes: this.maxMessageBytes },
          `the cloud sent a message larger than ${describeBytes(this.maxMessageBytes)} (--cloud-max-message-bytes); the connection was closed with WebSocket code 1009 before the message was read, and the agent reconnects`,
        );
        handler(`a message from the cloud was larger than the ${describeBytes(this.maxMessageBytes)} limit`);
        return;
      }
      handler(cause === undefined ? reason : `${reason} (${cause})`);
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

/** What the WebSocket library (ws) says when a message is larger than `maxPayload`. */
const OVERSIZE = 'Max payload size exceeded';

/** Socket.IO nests the transport's error: `{description: Error('websocket error', {description: Error(...)})}`. */
function innerMessage(description: unknown): string | undefined {
  let node = description;
  let message: string | undefined;
  for (let depth = 0; depth < 4 && node !== null && typeof node === 'object'; depth++) {
    const own = (node as { message?: unknown }).message;
    if (typeof own === 'string') message = own;
    node = (node as { description?: unknown }).description;
  }
  return message;
}

function describeBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${bytes} bytes`;
}

import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { type Frame, LineFramer } from './framing.js';
import { type ErrorEvent, LINE_TOO_LONG_ERROR, MAX_LINE_BYTES } from './protocol.js';

/** A client that stops reading is dropped once this much output is queued for it, instead of growing without end. */
const MAX_QUEUED_OUTPUT_BYTES = 16 * 1024 * 1024;
const STALE_SOCKET_PROBE_MS = 1000;

export interface ServerHooks {
  /** Runs once per client before any broadcast or reply reaches it (the discovery events go here). */
  greet(client: SidecarClient): Promise<void>;
  /** One complete line from the client. Replies go through `client.send`. */
  onLine(client: SidecarClient, line: string): void;
}

export interface SidecarServerOptions {
  socketPath: string;
  log: Logger;
  hooks: ServerHooks;
  /** File mode of the socket; 0660 by default (the old sidecar used 0666, open to every local user). */
  mode?: number;
  maxLineBytes?: number;
  /**
   * Why a new connection may not be served (null when it may), decided before anything is sent to it or read from
   * it (peer.ts: the connecting process's uid). Absent: every connection the socket's file mode lets in is served.
   */
  authorize?: (socket: Socket) => Promise<string | null>;
}

export class SidecarClient {
  private greeted = false;
  private held: string[] = [];
  private readonly framer: LineFramer;

  constructor(
    readonly id: number,
    private readonly socket: Socket,
    maxLineBytes: number,
    private readonly log: Logger,
  ) {
    this.framer = new LineFramer(maxLineBytes);
  }

  get open(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  /** Sends now if the client has been greeted, otherwise after its greeting, in order. */
  send(message: object): void {
    const line = `${JSON.stringify(message)}\n`;
    if (this.greeted) this.write(line);
    else this.held.push(line);
  }

  /** Sends ahead of anything held back; only the greeting uses it. */
  sendFirst(message: object): void {
    this.write(`${JSON.stringify(message)}\n`);
  }

  markGreeted(): void {
    this.greeted = true;
    const held = this.held;
    this.held = [];
    for (const line of held) this.write(line);
  }

  frames(chunk: Buffer): Frame[] {
    return this.framer.push(chunk);
  }

  close(): void {
    this.socket.destroy();
  }

  private write(line: string): void {
    if (!this.open) return;
    if (this.socket.writableLength > MAX_QUEUED_OUTPUT_BYTES) {
      this.log.warn(
        { step: 'client.dropped', client: this.id, queuedBytes: this.socket.writableLength },
        'dropping a client that stopped reading',
      );
      this.socket.destroy();
      return;
    }
    this.socket.write(line);
  }
}

/** The Unix socket the agent connects to: JSON lines both ways, events broadcast to every greeted client. */
export class SidecarServer {
  private readonly clients = new Set<SidecarClient>();
  private server: Server | undefined;
  private nextId = 1;
  private readonly maxLineBytes: number;

  constructor(private readonly options: SidecarServerOptions) {
    this.maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  async listen(): Promise<void> {
    const { socketPath, log } = this.options;
    await mkdir(dirname(socketPath), { recursive: true });
    await removeStaleSocket(socketPath);
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => log.error({ step: 'server.error', err }, 'socket server error'));
    this.server = server;
    await chmod(socketPath, this.options.mode ?? 0o660);
    log.info({ step: 'server.listening', socketPath }, 'serving the agent socket');
  }

  broadcast(message: object): void {
    for (const client of this.clients) client.send(message);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const client of this.clients) client.close();
    this.clients.clear();
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.options.socketPath).catch(() => undefined);
  }

  private accept(socket: Socket): void {
    const { log } = this.options;
    const authorize = this.options.authorize ?? (async () => null);
    // Nothing is read or sent until the peer is known; lines that arrive meanwhile wait in the socket.
    socket.pause();
    socket.on('error', (err) => log.debug({ step: 'client.error', err }, 'client socket error'));
    authorize(socket)
      .catch((err: unknown) => `the connecting process could not be checked (${String(err)})`)
      .then((problem) => {
        if (socket.destroyed) return;
        if (problem !== null) {
          log.warn({ step: 'client.refused', reason: problem }, 'refused a connection to the sidecar socket');
          const error: ErrorEvent = { type: 'error', error: `connection refused: ${problem}` };
          socket.end(`${JSON.stringify(error)}\n`);
          setTimeout(() => socket.destroy(), 1000).unref();
          return;
        }
        this.serve(socket);
        socket.resume();
      });
  }

  private serve(socket: Socket): void {
    const { log, hooks } = this.options;
    const client = new SidecarClient(this.nextId++, socket, this.maxLineBytes, log);
    this.clients.add(client);
    log.debug({ step: 'client.connected', client: client.id, clients: this.clients.size }, 'agent connected');
    const pendingLines: string[] = [];
    let greeted = false;

    socket.on('data', (chunk: Buffer) => {
      for (const frame of client.frames(chunk)) {
        if (frame.kind === 'oversized') {
          const error: ErrorEvent = { type: 'error', error: LINE_TOO_LONG_ERROR };
          log.warn({ step: 'client.line_too_long', client: client.id }, 'discarded an oversized line');
          client.send(error);
        } else if (greeted) {
          hooks.onLine(client, frame.text);
        } else {
          pendingLines.push(frame.text);
        }
      }
    });
    socket.on('close', () => {
      this.clients.delete(client);
      log.debug({ step: 'client.closed', client: client.id, clients: this.clients.size }, 'agent disconnected');
    });

    hooks
      .greet(client)
      .catch((err: unknown) => log.error({ step: 'client.greet_failed', client: client.id, err }, 'greeting failed'))
      .finally(() => {
        client.markGreeted();
        greeted = true;
        for (const line of pendingLines.splice(0)) hooks.onLine(client, line);
      });
  }
}

/**
 * A socket file left by a crashed sidecar is removed; a live one is not stolen (two sidecars would each run their
 * own DHCP clients on the same vNICs), and a file that is not a socket is not ours to delete.
 */
async function removeStaleSocket(socketPath: string): Promise<void> {
  const stat = await lstat(socketPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!stat) return;
  if (!stat.isSocket()) {
    throw new Error(`${socketPath} exists and is not a socket; remove it or choose another --socket path`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection(socketPath);
    const timer = setTimeout(() => {
      probe.destroy();
      resolve(true);
    }, STALE_SOCKET_PROBE_MS);
    probe.once('connect', () => {
      clearTimeout(timer);
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (alive) throw new Error(`another process is already serving ${socketPath}; stop it before starting this sidecar`);
  await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

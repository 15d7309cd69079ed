import { createConnection, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { Compile } from 'typebox/compile';
import { LineFramer } from '../../../sidecar/src/framing.js';
import { MAX_LINE_BYTES, type SidecarCommand, SidecarEvent, type SidecarReply } from '../../../sidecar/src/protocol.js';

/** A command without its `id`: the session numbers commands itself. */
export type SidecarRequest = SidecarCommand extends infer C
  ? C extends SidecarCommand
    ? Omit<C, 'id'>
    : never
  : never;

/** One live connection to the network-monitor sidecar: commands carry an `id` and get exactly one reply. */
export interface NetmonSession {
  readonly id: string;
  /** Sends a command and resolves with its reply; rejects on timeout or when the connection ends first. */
  request(command: SidecarRequest, timeoutMs?: number): Promise<SidecarReply>;
  onEvent(handler: (event: SidecarEvent) => void): void;
  onClosed(handler: (reason: string) => void): void;
  close(): void;
}

export class NetmonError extends Error {
  override readonly name = 'NetmonError';
}

const checkEvent = Compile(SidecarEvent);

export class NetmonConnector {
  private seq = 0;

  constructor(private readonly opts: { socketPath: string; log: Logger; connectTimeoutMs?: number }) {}

  connect(): Promise<NetmonSession> {
    const { socketPath, log } = this.opts;
    const timeoutMs = this.opts.connectTimeoutMs ?? 5_000;
    const id = `netmon-${++this.seq}`;
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path: socketPath });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new NetmonError(`the network monitor at ${socketPath} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        const hint = error.code === 'ENOENT' ? ' (is the autonomy_netmon sidecar running?)' : '';
        reject(
          new NetmonError(
            `cannot connect to the network monitor at ${socketPath}: ${error.code ?? error.message}${hint}`,
          ),
        );
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new SocketNetmonSession(id, socket, log));
      });
    });
  }
}

class SocketNetmonSession implements NetmonSession {
  private readonly framer = new LineFramer(MAX_LINE_BYTES);
  private readonly pending = new Map<
    number,
    { resolve: (r: SidecarReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private eventHandler: (event: SidecarEvent) => void = () => {};
  private closedHandler: (reason: string) => void = () => {};
  private nextId = 1;
  private closed = false;
  private closedByUs = false;
  /** Events that arrive before a handler is set (the sidecar sends discovery right after accept). */
  private early: SidecarEvent[] = [];
  private handlerSet = false;

  constructor(
    readonly id: string,
    private readonly socket: Socket,
    private readonly log: Logger,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => log.debug({ err: error }, 'network monitor socket error'));
    socket.on('close', () => this.onClose());
  }

  request(command: SidecarRequest, timeoutMs = 20_000): Promise<SidecarReply> {
    if (this.closed) return Promise.reject(new NetmonError('the network monitor connection is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new NetmonError(
            `the network monitor did not answer ${command.command} within ${Math.round(timeoutMs / 1000)} s`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }

  onEvent(handler: (event: SidecarEvent) => void): void {
    this.eventHandler = handler;
    this.handlerSet = true;
    const early = this.early;
    this.early = [];
    for (const event of early) handler(event);
  }

  onClosed(handler: (reason: string) => void): void {
    this.closedHandler = handler;
    if (this.closed && !this.closedByUs) handler('connection closed');
  }

  close(): void {
    this.closedByUs = true;
    this.socket.destroy();
    this.onClose();
  }

  private onData(chunk: Buffer): void {
    for (const frame of this.framer.push(chunk)) {
      if (frame.kind === 'oversized') {
        this.log.warn('network monitor sent a line over 1 MiB; discarded');
        continue;
      }
      let message: unknown;
      try {
        message = JSON.parse(frame.text);
      } catch {
        this.log.warn({ bytes: frame.text.length }, 'network monitor sent a line that is not JSON; skipped');
        continue;
      }
      if (message === null || typeof message !== 'object') continue;
      if ('type' in message) this.onEventMessage(message);
      else this.onReply(message as SidecarReply);
    }
  }

  private onEventMessage(message: object): void {
    if (!checkEvent.Check(message)) {
      this.log.warn(
        { type: (message as { type?: unknown }).type },
        'network monitor event does not match the protocol; ignored',
      );
      return;
    }
    if (this.handlerSet) this.eventHandler(message);
    else this.early.push(message);
  }

  private onReply(reply: SidecarReply): void {
    const id = typeof reply.id === 'number' ? reply.id : Number(reply.id);
    const waiter = this.pending.get(id);
    if (!waiter) {
      this.log.debug({ id: reply.id }, 'network monitor reply for no pending command');
      return;
    }
    this.pending.delete(id);
    clearTimeout(waiter.timer);
    waiter.resolve(reply);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      waiter.reject(new NetmonError('the network monitor connection closed before it answered'));
    }
    this.pending.clear();
    if (!this.closedByUs) this.closedHandler('connection closed');
  }
}

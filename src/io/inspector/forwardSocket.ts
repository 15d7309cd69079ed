import type { Logger } from 'pino';
import { WebSocket } from 'undici';
import { displayUrl } from '../../model/urls.js';

export interface ForwardSocketOptions {
  url: string;
  log: Logger;
  /** Events kept while the socket is down; the oldest go first. */
  maxQueued?: number;
  /** While the socket has more than this unsent, new events are dropped instead of piling up in memory. */
  maxBufferedBytes?: number;
  /** First wait before a reconnect; it doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Called each time the socket opens, before the backlog goes out: a fresh inspector knows no actor yet. */
  onOpen?: () => void;
}

/**
 * The WebSocket that carries inspection events to an inspector of Stately's tools (`--inspect-forward`,
 * docs/protocol.md#forwarding-to-statelys-inspector). @statelyai/inspect's own WebSocket adapter reconnects only
 * after an error, so an inspector that is stopped and started again never hears from the agent until the agent
 * restarts, and it sends its whole backlog again on every reconnect. This socket reconnects after any close, with a
 * backoff (1 s doubling to 30 s), sends each queued event once, and bounds what it holds in both states.
 * A developer tool must never cost the agent more than a few hundred events of memory, nor stop it.
 */
export class ForwardSocket {
  private readonly url: string;
  private readonly log: Logger;
  private readonly maxQueued: number;
  private readonly maxBuffered: number;
  private readonly firstRetry: number;
  private readonly maxRetry: number;
  private readonly onOpen: () => void;
  private socket: WebSocket | null = null;
  private open = false;
  private stopped = false;
  private queue: string[] = [];
  private retry: number;
  private timer: NodeJS.Timeout | null = null;
  private everOpen = false;
  /** Events left out (queue full, socket buffer full, not serialisable) since the last report. */
  private dropped = 0;

  constructor(opts: ForwardSocketOptions) {
    this.url = opts.url;
    this.log = opts.log;
    this.maxQueued = opts.maxQueued ?? 200;
    this.maxBuffered = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.firstRetry = opts.retryMs ?? 1_000;
    this.maxRetry = opts.maxRetryMs ?? 30_000;
    this.retry = this.firstRetry;
    this.onOpen = opts.onOpen ?? (() => {});
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.open = false;
    this.queue = [];
    this.socket?.close();
    this.socket = null;
  }

  send(event: unknown): void {
    if (this.stopped) return;
    let text: string;
    try {
      text = JSON.stringify(event);
    } catch {
      // A circular or BigInt value the sanitising missed: that one event is not worth an exception in an actor.
      this.dropped++;
      return;
    }
    if (this.open && this.socket) {
      if (this.socket.bufferedAmount > this.maxBuffered) {
        this.dropped++;
        return;
      }
      this.socket.send(text);
      return;
    }
    if (this.queue.length >= this.maxQueued) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push(text);
  }

  private connect(): void {
    if (this.stopped) return;
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url);
    } catch (err) {
      this.log.warn({ err, url: displayUrl(this.url) }, 'cannot open the inspector forward socket');
      this.reconnectLater();
      return;
    }
    this.socket = socket;
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      this.open = true;
      this.retry = this.firstRetry;
      this.log.info(
        { step: 'inspector.forward_connected', url: displayUrl(this.url), dropped: this.dropped },
        'forwarding inspection events',
      );
      this.everOpen = true;
      this.dropped = 0;
      this.onOpen();
      const backlog = this.queue;
      this.queue = [];
      for (const text of backlog) socket.send(text);
    });
    socket.addEventListener('close', () => {
      if (this.socket !== socket) return;
      const was = this.open;
      this.open = false;
      this.socket = null;
      if (was) {
        this.log.warn(
          { step: 'inspector.forward_lost', url: displayUrl(this.url) },
          'the inspector forward socket closed; reconnecting',
        );
      } else if (!this.everOpen) {
        this.log.debug({ url: displayUrl(this.url) }, 'no inspector answers yet at the forward URL');
      }
      this.reconnectLater();
    });
    // Every failure also ends in 'close', which reconnects; listening here keeps it from being reported as unhandled.
    socket.addEventListener('error', () => {});
  }

  private reconnectLater(): void {
    if (this.stopped || this.timer) return;
    const wait = this.retry;
    this.retry = Math.min(this.maxRetry, this.retry * 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, wait);
    this.timer.unref();
  }
}

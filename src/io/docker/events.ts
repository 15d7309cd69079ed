import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { DockerEngine } from './engine.js';
import { onJsonLines } from './jsonLines.js';
import { MANAGED_FILTER } from './labels.js';

/** A lifecycle fact about one of our containers, as the engine reported it. */
export type EngineContainerEvent =
  | { kind: 'start'; id: string; name: string; at: string }
  | { kind: 'die'; id: string; name: string; at: string; exitCode: number | null; oomKilled: boolean }
  | { kind: 'destroy'; id: string; name: string; at: string };

export interface ContainerEventStreamOptions {
  engine: DockerEngine;
  log: Logger;
  onEvent: (event: EngineContainerEvent) => void;
  /** Called with `true` each time the stream is (re)opened and `false` when it drops. */
  onConnection?: (connected: boolean) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

interface RawEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  time?: number;
  timeNano?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** Remember this many recent event keys to drop the duplicates a `since` replay sends again. */
const SEEN_LIMIT = 512;

/**
 * ONE Docker events stream for every runtime, filtered by our label, so container start/die/destroy reach the
 * supervisor as facts without polling. It reopens with exponential backoff when dockerd goes away (restart,
 * upgrade) and replays what it missed with `since`, dropping duplicates. `stop()` aborts it.
 */
export class ContainerEventStream {
  private readonly engine: DockerEngine;
  private readonly log: Logger;
  private readonly onEvent: (event: EngineContainerEvent) => void;
  private readonly onConnection: (connected: boolean) => void;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly controller = new AbortController();
  private readonly seen: string[] = [];
  private readonly seenSet = new Set<string>();
  /** Containers that got an `oom` event and have not died yet (the `die` event itself does not say). */
  private readonly oomPending = new Set<string>();
  private lastEventTime: number | undefined;
  private isConnected = false;
  private loop: Promise<void> | undefined;

  constructor(options: ContainerEventStreamOptions) {
    this.engine = options.engine;
    this.log = options.log;
    this.onEvent = options.onEvent;
    this.onConnection = options.onConnection ?? (() => undefined);
    this.initialBackoffMs = options.initialBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
  }

  connected(): boolean {
    return this.isConnected;
  }

  private setConnected(value: boolean): void {
    if (this.isConnected === value) return;
    this.isConnected = value;
    this.onConnection(value);
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    let backoff = this.initialBackoffMs;
    while (!signal.aborted) {
      try {
        // Without a replay point, start from "now" so a reconnect later replays exactly the gap.
        const since = this.lastEventTime;
        this.lastEventTime ??= Math.floor(Date.now() / 1000);
        const stream = await this.engine.openEvents(
          { type: ['container'], label: [MANAGED_FILTER], event: ['start', 'oom', 'die', 'destroy'] },
          signal,
          since,
        );
        this.log.info({ step: 'events.connected', since }, 'docker events stream open');
        this.setConnected(true);
        backoff = this.initialBackoffMs;
        await this.consume(stream);
        if (!signal.aborted) this.log.warn({ step: 'events.ended' }, 'docker events stream ended; reopening');
      } catch (err) {
        if (signal.aborted) break;
        this.log.warn({ step: 'events.failed', err, retryInMs: backoff }, 'docker events stream unavailable');
      }
      this.setConnected(false);
      if (signal.aborted) break;
      try {
        await sleep(backoff, undefined, { signal });
      } catch {
        break;
      }
      backoff = Math.min(backoff * 2, this.maxBackoffMs);
    }
    this.setConnected(false);
  }

  private consume(stream: NodeJS.ReadableStream): Promise<void> {
    return new Promise<void>((resolve) => {
      const flush = onJsonLines(stream, (obj) => this.handle(obj as RawEvent));
      const done = (): void => {
        flush();
        resolve();
      };
      stream.once('end', done);
      stream.once('close', done);
      stream.once('error', done);
    });
  }

  private handle(raw: RawEvent): void {
    if ((raw.Type ?? 'container') !== 'container') return;
    const action = raw.Action ?? raw.status ?? '';
    const id = raw.Actor?.ID ?? raw.id ?? '';
    const attrs = raw.Actor?.Attributes ?? {};
    const name = attrs.name ?? '';
    if (id === '' || name === '') return;

    const key = `${id}:${action}:${raw.timeNano ?? raw.time ?? ''}`;
    if (this.seenSet.has(key)) return;
    this.seenSet.add(key);
    this.seen.push(key);
    if (this.seen.length > SEEN_LIMIT) this.seenSet.delete(this.seen.shift() as string);
    if (typeof raw.time === 'number') this.lastEventTime = Math.max(this.lastEventTime ?? 0, raw.time);

    const at = raw.timeNano
      ? new Date(Math.floor(raw.timeNano / 1e6)).toISOString()
      : new Date((raw.time ?? Date.now() / 1000) * 1000).toISOString();
    switch (action) {
      case 'start':
        this.oomPending.delete(id);
        this.emit({ kind: 'start', id, name, at });
        return;
      case 'oom':
        this.oomPending.add(id);
        return;
      case 'die': {
        const code = attrs.exitCode === undefined ? Number.NaN : Number.parseInt(attrs.exitCode, 10);
        const oomKilled = this.oomPending.delete(id);
        this.emit({ kind: 'die', id, name, at, exitCode: Number.isNaN(code) ? null : code, oomKilled });
        return;
      }
      case 'destroy':
        this.oomPending.delete(id);
        this.emit({ kind: 'destroy', id, name, at });
        return;
      default:
        return;
    }
  }

  private emit(event: EngineContainerEvent): void {
    try {
      this.onEvent(event);
    } catch (err) {
      this.log.error({ step: 'events.listener_failed', err, event }, 'container event listener threw');
    }
  }
}

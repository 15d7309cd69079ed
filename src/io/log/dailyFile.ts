import { createWriteStream, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';

/** `YYYY-MM-DD` of a date in UTC: the day part of log file names. */
export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** Default of --log-file-max-bytes: the most one daily file may grow to. */
export const DEFAULT_LOG_FILE_MAX_BYTES = 32 * 1024 * 1024;
/**
 * Bytes waiting for the disk before further lines are dropped (and counted): the file is written asynchronously,
 * so a slow or stalled disk would otherwise buffer every line in memory.
 */
export const LOG_FILE_MAX_PENDING_BYTES = 1024 * 1024;
/** First wait before a file that failed is opened again; it doubles up to a minute. */
export const LOG_FILE_RETRY_MS = 1_000;
const LOG_FILE_MAX_RETRY_MS = 60_000;

export interface DailyFileOptions {
  dir: string;
  /** File name before the date, e.g. `orchestrator-logs-`; the file is `<prefix>YYYY-MM-DD.log`. */
  prefix: string;
  now: () => Date;
  /** The file could not be opened or written; its lines are dropped (and counted) until it is open again. */
  onError: (err: Error, file: string) => void;
  /** The file is written again after a failure. */
  onRecovered?: (file: string, dropped: number) => void;
  /** The first line of a new UTC day arrived (not called for the first file after start). */
  onNewDay?: (day: string) => void;
  /** Size cap of one day's file, in bytes. */
  maxBytes?: number;
  /** Bytes waiting for the disk beyond which lines are dropped. */
  maxPendingBytes?: number;
  /** First retry delay after a failure. */
  retryMs?: number;
  /** How a file is opened for appending (tests give a failing one). */
  open?: (file: string) => Writable;
}

/**
 * A pino destination that appends each line to the file of the current UTC day. Files are opened in append mode,
 * so a restart continues the day's file instead of truncating it (the old agent lost the log of the crash that way),
 * and a new file begins with the first line written after midnight UTC.
 *
 * It never blocks and never grows without bound: a day's file stops at its size cap (with one line saying so), lines
 * are dropped while more than `maxPendingBytes` wait for a slow disk, and a file that fails is opened again after a
 * growing delay instead of staying silent until the next day. Dropped lines are counted, and the count is written to
 * the file as soon as it can be.
 */
export class DailyFileStream {
  private readonly opts: DailyFileOptions;
  private readonly maxBytes: number;
  private readonly maxPendingBytes: number;
  private day: string | null = null;
  private stream: Writable | null = null;
  private written = 0;
  private capped = false;
  /** Lines lost since the last line that reached the file, and why. */
  private dropped = 0;
  private dropReason: string | null = null;
  private failed = false;
  private retryDelayMs: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly closing: Array<Promise<void>> = [];
  private closed = false;

  constructor(opts: DailyFileOptions) {
    this.opts = opts;
    this.maxBytes = opts.maxBytes ?? DEFAULT_LOG_FILE_MAX_BYTES;
    this.maxPendingBytes = opts.maxPendingBytes ?? LOG_FILE_MAX_PENDING_BYTES;
    this.retryDelayMs = opts.retryMs ?? LOG_FILE_RETRY_MS;
  }

  fileFor(day: string): string {
    return join(this.opts.dir, `${this.opts.prefix}${day}.log`);
  }

  /** Lines dropped and not yet reported in the file. */
  get droppedLines(): number {
    return this.dropped;
  }

  /** Bytes handed to the file that the disk has not taken yet. */
  get pendingBytes(): number {
    return this.stream?.writableLength ?? 0;
  }

  write(line: string): boolean {
    if (this.closed) return true;
    const day = utcDay(this.opts.now());
    if (day !== this.day) this.open(day);
    const stream = this.stream;
    if (stream === null || this.capped) return this.drop(this.failed ? 'the file could not be written' : null);
    if (stream.writableLength > this.maxPendingBytes) return this.drop('the disk was too slow');
    if (this.dropped > 0 && this.dropReason !== null) {
      this.put(
        stream,
        notice('warn', this.opts.now(), `${this.dropped} log lines were dropped because ${this.dropReason}`),
      );
      this.dropped = 0;
      this.dropReason = null;
    }
    const bytes = Buffer.byteLength(line);
    if (this.written + bytes > this.maxBytes - CAP_NOTICE_ROOM) {
      this.capped = true;
      this.put(
        stream,
        notice(
          'warn',
          this.opts.now(),
          `this log file reached its size cap of ${describeBytes(this.maxBytes)} (--log-file-max-bytes); the rest of this UTC day's lines are not written to it`,
        ),
      );
      return this.drop(null);
    }
    this.put(stream, line);
    return true;
  }

  /** Flush what was written and close the file. Later writes are ignored. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retire();
    await Promise.all(this.closing);
  }

  private put(stream: Writable, text: string): void {
    this.written += Buffer.byteLength(text);
    stream.write(text);
  }

  /** Counts a lost line; `reason` null: lost on purpose (the size cap), not reported again. */
  private drop(reason: string | null): boolean {
    if (reason !== null) {
      this.dropped++;
      this.dropReason = reason;
    }
    return true;
  }

  private open(day: string): void {
    const first = this.day === null;
    this.retire();
    this.day = day;
    this.capped = false;
    this.failed = false;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.attach(day);
    if (!first) this.opts.onNewDay?.(day);
  }

  /** Opens the day's file, counting what it already holds (a restart appends to it). */
  private attach(day: string): void {
    const file = this.fileFor(day);
    let stream: Writable;
    try {
      // Synchronous, but only once a day or after a failure: recreates the folder if someone removed it meanwhile.
      mkdirSync(this.opts.dir, { recursive: true });
      this.written = existingSize(file);
      stream = this.opts.open ? this.opts.open(file) : createWriteStream(file, { flags: 'a' });
    } catch (err) {
      this.fail(err as Error, file, null);
      return;
    }
    stream.on('error', (err) => this.fail(err, file, stream));
    this.stream = stream;
    if (this.written >= this.maxBytes - CAP_NOTICE_ROOM) this.capped = true;
  }

  /** A failed file is dropped and opened again later; the first failure of a run is reported. */
  private fail(err: Error, file: string, stream: Writable | null): void {
    if (stream !== null && this.stream !== stream) return;
    this.stream = null;
    stream?.destroy();
    if (!this.failed) this.opts.onError(err, file);
    this.failed = true;
    this.dropReason = 'the file could not be written';
    if (this.closed || this.retryTimer !== null) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(delay * 2, LOG_FILE_MAX_RETRY_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.closed || this.day === null) return;
      const day = this.day;
      this.attach(day);
      if (this.stream !== null) {
        this.failed = false;
        this.retryDelayMs = this.opts.retryMs ?? LOG_FILE_RETRY_MS;
        this.opts.onRecovered?.(file, this.dropped);
      }
    }, delay);
    this.retryTimer.unref();
  }

  private retire(): void {
    const stream = this.stream;
    this.stream = null;
    if (stream === null) return;
    this.closing.push(
      new Promise<void>((resolve) => {
        if (stream.destroyed || stream.closed) return resolve();
        stream.once('close', () => resolve());
        stream.once('error', () => resolve());
        stream.end();
      }),
    );
  }
}

/** Room kept below the cap for the line that says the cap was reached. */
const CAP_NOTICE_ROOM = 512;

function existingSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

const LEVELS = { warn: 40, info: 30 } as const;

/** A line the file writes about itself, in the same JSON form as pino's. */
function notice(level: keyof typeof LEVELS, at: Date, msg: string): string {
  return `${JSON.stringify({ level: LEVELS[level], time: at.toISOString(), step: 'log.file.notice', msg })}\n`;
}

function describeBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${bytes} bytes`;
}

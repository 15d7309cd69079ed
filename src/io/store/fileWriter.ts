import type { Logger } from 'pino';
import { writeFileAtomic } from './atomicFile.js';
import { backoffMs } from '../../model/backoff.js';
import { errorText } from '../../model/errors.js';

export interface FileWriterOptions<T> {
  path: string;
  /** The exact bytes to write for a value (formats are part of the contract: the old agent reads these files too). */
  format: (value: T) => string;
  log: Logger;
  /** First delay before a failed write is tried again (doubling up to `maxRetryMs`). Default 1 s. */
  retryMs?: number;
  maxRetryMs?: number;
}

interface Pending<T> {
  value: T;
  waiters: Array<(durable: boolean) => void>;
}

/**
 * The one writer of one file (the old agent rewrote the same files from several threads). Writes go through a
 * queue of length one: while a write is in flight, newer values replace each other and only the last is written
 * next, so a burst of changes costs at most two writes and the file always ends with the latest state.
 */
export class FileWriter<T> {
  private readonly path: string;
  private readonly format: (value: T) => string;
  private readonly log: Logger;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private pending: Pending<T> | null = null;
  private running: Promise<void> | null = null;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private lastWritten: string | undefined;
  /** Why the last write failed (e.g. `ENOSPC: no space left on device`), or null after a success. */
  lastError: string | null = null;

  constructor(opts: FileWriterOptions<T>) {
    this.path = opts.path;
    this.format = opts.format;
    this.log = opts.log;
    this.retryMs = opts.retryMs ?? 1_000;
    this.maxRetryMs = opts.maxRetryMs ?? 30_000;
  }

  get file(): string {
    return this.path;
  }

  /**
   * Schedule `value` to be written. Resolves `true` once this value (or a later one) is durable on disk, `false`
   * when that write failed (logged; retried with backoff until a write succeeds). Never rejects.
   */
  write(value: T): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      if (this.pending) {
        this.pending.value = value;
        this.pending.waiters.push(resolve);
      } else {
        this.pending = { value, waiters: [resolve] };
      }
      this.pump();
    });
  }

  /** Resolves when everything written so far has settled. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stop retrying a failed write (shutdown). Values already queued are still written by `flush`. */
  close(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private pump(): void {
    if (this.running || this.retryTimer) return;
    this.running = this.drain().finally(() => {
      this.running = null;
    });
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const job = this.pending;
      this.pending = null;
      const text = this.format(job.value);
      let ok = true;
      if (text !== this.lastWritten) {
        try {
          await writeFileAtomic(this.path, text);
          this.lastWritten = text;
          if (this.failures > 0) this.log.info({ step: 'store.recovered', file: this.path }, 'file written again');
          this.failures = 0;
          this.lastError = null;
        } catch (err) {
          ok = false;
          this.lastError = errorText(err);
          this.failures += 1;
          this.lastWritten = undefined;
          const delay = backoffMs(this.failures - 1, { baseMs: this.retryMs, maxMs: this.maxRetryMs });
          this.log.error(
            { step: 'store.write_failed', file: this.path, err, retryInMs: delay },
            'could not write persisted file; will retry',
          );
          // Keep the newest value for the retry unless a newer one is already waiting.
          if (!this.pending) this.pending = { value: job.value, waiters: [] };
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.pump();
          }, delay);
          this.retryTimer.unref?.();
        }
      }
      for (const resolve of job.waiters) resolve(ok);
      if (!ok) return;
    }
  }
}

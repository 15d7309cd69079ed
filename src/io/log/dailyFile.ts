import { mkdirSync, type WriteStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';

/** `YYYY-MM-DD` of a date in UTC: the day part of log file names. */
export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export interface DailyFileOptions {
  dir: string;
  /** File name before the date, e.g. `orchestrator-logs-`; the file is `<prefix>YYYY-MM-DD.log`. */
  prefix: string;
  now: () => Date;
  /** The file of `day` could not be opened or written; its lines are dropped until the next day. */
  onError: (err: Error, file: string) => void;
  /** The first line of a new UTC day arrived (not called for the first file after start). */
  onNewDay?: (day: string) => void;
}

/**
 * A pino destination that appends each line to the file of the current UTC day. Files are opened in append mode,
 * so a restart continues the day's file instead of truncating it (the old agent lost the log of the crash that way),
 * and a new file begins with the first line written after midnight UTC.
 */
export class DailyFileStream {
  private readonly opts: DailyFileOptions;
  private day: string | null = null;
  private stream: WriteStream | null = null;
  private readonly closing: Array<Promise<void>> = [];
  private closed = false;

  constructor(opts: DailyFileOptions) {
    this.opts = opts;
  }

  fileFor(day: string): string {
    return join(this.opts.dir, `${this.opts.prefix}${day}.log`);
  }

  write(line: string): boolean {
    if (this.closed) return true;
    const day = utcDay(this.opts.now());
    if (day !== this.day) this.open(day);
    this.stream?.write(line);
    return true;
  }

  /** Flush what was written and close the file. Later writes are ignored. */
  async close(): Promise<void> {
    this.closed = true;
    this.retire();
    await Promise.all(this.closing);
  }

  private open(day: string): void {
    const first = this.day === null;
    this.retire();
    this.day = day;
    const file = this.fileFor(day);
    try {
      // Once a day: recreate the folder if someone removed it while we ran (synchronous, but not on a hot path).
      mkdirSync(this.opts.dir, { recursive: true });
    } catch (err) {
      this.opts.onError(err as Error, file);
      return;
    }
    const stream = createWriteStream(file, { flags: 'a' });
    let reported = false;
    stream.on('error', (err) => {
      if (this.stream === stream) this.stream = null;
      if (!reported) {
        reported = true;
        this.opts.onError(err, file);
      }
    });
    this.stream = stream;
    if (!first) this.opts.onNewDay?.(day);
  }

  private retire(): void {
    const stream = this.stream;
    this.stream = null;
    if (stream === null) return;
    this.closing.push(
      new Promise<void>((resolve) => {
        if (stream.destroyed || stream.closed) return resolve();
        stream.once('close', () => resolve());
        stream.end();
      }),
    );
  }
}

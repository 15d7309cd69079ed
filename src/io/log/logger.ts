import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type DestinationStream, type Level, type Logger, type StreamEntry } from 'pino';
import pretty from 'pino-pretty';
import { DailyFileStream, utcDay } from './dailyFile.js';
import { scrubValue } from './redact.js';
import { pruneLogFiles } from './retention.js';

export interface LoggerOptions {
  level: Level;
  /** Files go to `<dataDir>/logs/` (at `level`) and `<dataDir>/debug/` (always debug). */
  dataDir: string;
  /** Daily files dated more than this many days before today are deleted, at start and once a day. */
  retentionDays: number;
  /** Human-readable coloured stdout (when stdout is a TTY); JSON lines otherwise. */
  pretty: boolean;
  /** Wall clock for timestamps and file days. Default `new Date()`. */
  now?: () => Date;
  /** Where stdout lines go instead of file descriptor 1 (tests). A real Writable: pino-pretty pipes into it. */
  stdout?: NodeJS.WritableStream;
  /** Size cap of each daily file (--log-file-max-bytes). */
  fileMaxBytes?: number;
  /** First delay before a file that failed is opened again (tests shorten it). */
  fileRetryMs?: number;
}

/**
 * Bytes of stdout lines waiting for their reader (a terminal, Docker's log driver) before further lines are dropped:
 * a stalled reader must not block the agent, nor fill its memory.
 */
export const STDOUT_MAX_PENDING_BYTES = 4 * 1024 * 1024;

export interface AgentLogger {
  log: Logger;
  /** Stop the daily sweep, wait for pending deletions and flush and close the files. Idempotent. */
  close(): Promise<void>;
}

export const LOGS_PREFIX = 'orchestrator-logs-';
export const DEBUG_PREFIX = 'orchestrator-debug-';

const DAY_MS = 86_400_000;
const LEVEL_ORDER: Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Create the folder and open today's file for appending once, so an unwritable data dir is known at start. */
function probeWritable(dir: string, file: string): Error | null {
  try {
    // Synchronous on purpose: once, before the agent does anything else.
    mkdirSync(dir, { recursive: true });
    closeSync(openSync(file, 'a'));
    return null;
  } catch (err) {
    return err as Error;
  }
}

/**
 * The agent's root logger (docs/protocol.md#log-files): stdout at the configured level, and two daily files that are
 * appended across restarts, rolled at midnight UTC and deleted after the retention period. Files hold JSON lines,
 * never colour codes. Certificates, keys and authorization headers are redacted.
 */
export function createLogger(opts: LoggerOptions): AgentLogger {
  const now = opts.now ?? (() => new Date());
  const logsDir = join(opts.dataDir, 'logs');
  const debugDir = join(opts.dataDir, 'debug');
  const rootLevel = LEVEL_ORDER.indexOf(opts.level) < LEVEL_ORDER.indexOf('debug') ? opts.level : 'debug';

  const stdout: DestinationStream = opts.pretty
    ? pretty({
        sync: true,
        colorize: true,
        translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
        ignore: 'pid,hostname',
        destination: opts.stdout ?? 1,
      })
    : (opts.stdout ?? asyncStdout());
  const streams: StreamEntry<Level>[] = [{ level: opts.level, stream: stdout }];

  const today = utcDay(now());
  const probeError =
    probeWritable(logsDir, join(logsDir, `${LOGS_PREFIX}${today}.log`)) ??
    probeWritable(debugDir, join(debugDir, `${DEBUG_PREFIX}${today}.log`));

  // Filled in once the logger exists; the file streams report their failures through it.
  let log: Logger | null = null;
  const pending = new Set<Promise<unknown>>();
  const track = (promise: Promise<unknown>) => {
    pending.add(promise);
    void promise.finally(() => pending.delete(promise));
  };

  const prune = (): void => {
    const day = now();
    track(
      Promise.all([
        pruneLogFiles(logsDir, LOGS_PREFIX, day, opts.retentionDays),
        pruneLogFiles(debugDir, DEBUG_PREFIX, day, opts.retentionDays),
      ]).then(([logs, debug]) => {
        const deleted = [...logs, ...debug];
        if (deleted.length > 0) {
          log?.info({ step: 'log.pruned', deleted, retentionDays: opts.retentionDays }, 'deleted old log files');
        }
      }),
    );
  };

  const files: DailyFileStream[] = [];
  if (probeError === null) {
    const onError = (err: Error, file: string) => {
      // Deferred: this can fire inside a write of the logger itself.
      setImmediate(() =>
        log?.warn(
          { step: 'log.file.failed', file, err },
          'cannot write log file; its lines are dropped (and counted) until it can be written again, tried after 1 s, doubling to 1 min',
        ),
      );
    };
    const onRecovered = (file: string, dropped: number) => {
      setImmediate(() =>
        log?.info(
          { step: 'log.file.recovered', file, dropped },
          `log file is written again; ${dropped} lines were lost`,
        ),
      );
    };
    let lastPrunedDay = today;
    const onNewDay = (day: string) => {
      if (day === lastPrunedDay) return;
      lastPrunedDay = day;
      prune();
    };
    const fileOptions = { now, onError, onRecovered, onNewDay, maxBytes: opts.fileMaxBytes, retryMs: opts.fileRetryMs };
    const logsFile = new DailyFileStream({ dir: logsDir, prefix: LOGS_PREFIX, ...fileOptions });
    const debugFile = new DailyFileStream({ dir: debugDir, prefix: DEBUG_PREFIX, ...fileOptions });
    files.push(logsFile, debugFile);
    streams.push({ level: opts.level, stream: logsFile }, { level: 'debug', stream: debugFile });
  }

  log = pino(
    {
      level: rootLevel,
      timestamp: () => `,"time":"${now().toISOString()}"`,
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((arg) => scrubValue(arg)) as Parameters<typeof method>;
          method.apply(this, scrubbed);
        },
      },
    },
    pino.multistream(streams),
  );

  let sweep: NodeJS.Timeout | null = null;
  if (probeError === null) {
    prune();
    // Quiet days write no line that would notice the date change: sweep daily as well.
    sweep = setInterval(prune, DAY_MS);
    sweep.unref();
  } else {
    log.warn(
      { step: 'log.files.unavailable', dataDir: opts.dataDir, err: probeError },
      `cannot write log files under ${opts.dataDir}; logging to stdout only`,
    );
  }

  let closing: Promise<void> | null = null;
  return {
    log,
    close() {
      closing ??= (async () => {
        if (sweep !== null) clearInterval(sweep);
        while (pending.size > 0) await Promise.allSettled([...pending]);
        await Promise.all(files.map((f) => f.close()));
        await flushStdout(stdout);
      })();
      return closing;
    },
  };
}

/**
 * Stdout written asynchronously with a bounded buffer: lines beyond it are dropped (and counted in the next line that
 * gets through) instead of blocking the event loop on a slow reader.
 */
function asyncStdout(): DestinationStream {
  const destination = pino.destination({ dest: 1, sync: false, maxLength: STDOUT_MAX_PENDING_BYTES });
  let dropped = 0;
  destination.on('drop', () => {
    dropped++;
  });
  const write = destination.write.bind(destination);
  destination.write = (line: string) => {
    if (dropped > 0) {
      const count = dropped;
      dropped = 0;
      write(
        `${JSON.stringify({ level: 40, time: new Date().toISOString(), step: 'log.stdout.dropped', dropped: count, msg: `${count} log lines were dropped because stdout was not read fast enough` })}\n`,
      );
    }
    return write(line);
  };
  return destination;
}

/** Waits until what was written to the agent's own stdout has left the process. */
async function flushStdout(stdout: DestinationStream): Promise<void> {
  const sonic = stdout as DestinationStream & { flush?: (cb: (err?: Error) => void) => void; fd?: number };
  if (typeof sonic.flush !== 'function' || sonic.fd !== 1) return;
  await new Promise<void>((resolve) => {
    try {
      sonic.flush?.(() => resolve());
    } catch {
      resolve();
    }
  });
}

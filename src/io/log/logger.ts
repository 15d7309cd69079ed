import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type DestinationStream, type Level, type Logger, type StreamEntry } from 'pino';
import pretty from 'pino-pretty';
import { DailyFileStream, utcDay } from './dailyFile.js';
import { REDACT_CENSOR, REDACT_PATHS, scrubValue } from './redact.js';
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
}

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
    : (opts.stdout ?? pino.destination({ dest: 1, sync: true }));
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
          'cannot write log file; its lines are dropped until the next UTC day',
        ),
      );
    };
    let lastPrunedDay = today;
    const onNewDay = (day: string) => {
      if (day === lastPrunedDay) return;
      lastPrunedDay = day;
      prune();
    };
    const logsFile = new DailyFileStream({ dir: logsDir, prefix: LOGS_PREFIX, now, onError, onNewDay });
    const debugFile = new DailyFileStream({ dir: debugDir, prefix: DEBUG_PREFIX, now, onError, onNewDay });
    files.push(logsFile, debugFile);
    streams.push({ level: opts.level, stream: logsFile }, { level: 'debug', stream: debugFile });
  }

  log = pino(
    {
      level: rootLevel,
      timestamp: () => `,"time":"${now().toISOString()}"`,
      redact: { paths: REDACT_PATHS, censor: REDACT_CENSOR },
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
      })();
      return closing;
    },
  };
}

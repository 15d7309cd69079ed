import type { Logger } from 'pino';
import { backoffMs } from '../../model/backoff.js';
import type { VplcStatus } from './supervisor.js';

/**
 * Readiness: a vPLC is `running` as soon as its container starts, but the OpenPLC runtime needs a moment before its
 * API answers. While a vPLC runs, its API is probed (quietly, with a growing interval) until it answers once; from
 * then on the vPLC is ready until its container run ends (stop, crash, restart, delete). get_device_status shows it
 * as `ready`, and run_command waits for it instead of failing with "connection refused" right after a start.
 */

export interface ReadinessDeps {
  /** Whether the runtime behind this internal address answers on its API port. */
  probe: (ip: string, signal: AbortSignal) => Promise<boolean>;
  /** The runtime's address on its internal network, once the engine reports it. */
  internalIp: (name: string) => string | null;
  log: Logger;
  /** First probe interval; it doubles up to `maxIntervalMs`. */
  intervalMs?: number;
  maxIntervalMs?: number;
}

interface Run {
  /** `<containerId>|<startedAt>`: one container run. */
  key: string;
  ready: boolean;
  abort: AbortController;
  waiters: Set<() => void>;
}

export class RuntimeReadiness {
  private readonly runs = new Map<string, Run>();
  private readonly intervalMs: number;
  private readonly maxIntervalMs: number;

  constructor(private readonly deps: ReadinessDeps) {
    this.intervalMs = deps.intervalMs ?? 200;
    this.maxIntervalMs = deps.maxIntervalMs ?? 2_000;
  }

  /** Follow a vPLC's status: a new container run in `running` starts probing; leaving it ends readiness. */
  observe(status: VplcStatus): void {
    const current = this.runs.get(status.name);
    if (status.phase !== 'running' || status.containerId === null) {
      if (current) this.end(status.name, current);
      return;
    }
    const key = `${status.containerId}|${status.startedAt}`;
    if (current?.key === key) return;
    if (current) this.end(status.name, current);
    const run: Run = { key, ready: false, abort: new AbortController(), waiters: new Set() };
    this.runs.set(status.name, run);
    void this.poll(status.name, run);
  }

  isReady(name: string): boolean {
    return this.runs.get(name)?.ready === true;
  }

  /** Resolves true once ready, false when the run ends or `timeoutMs` passes first. */
  whenReady(name: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const run = this.runs.get(name);
    if (!run) return Promise.resolve(false);
    if (run.ready) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        run.waiters.delete(done);
        resolve(run.ready);
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      run.waiters.add(done);
    });
  }

  /** Agent shutdown: stop probing. */
  stop(): void {
    for (const [name, run] of this.runs) this.end(name, run);
  }

  private end(name: string, run: Run): void {
    run.abort.abort();
    run.ready = false;
    this.runs.delete(name);
    for (const waiter of [...run.waiters]) waiter();
  }

  private async poll(name: string, run: Run): Promise<void> {
    const started = Date.now();
    for (let attempt = 0; !run.abort.signal.aborted; attempt++) {
      const ip = this.deps.internalIp(name);
      if (ip !== null && (await this.deps.probe(ip, run.abort.signal).catch(() => false))) {
        if (run.abort.signal.aborted) return;
        run.ready = true;
        this.deps.log.info({ step: 'vplc.ready', vplc: name, ms: Date.now() - started }, 'runtime API answers');
        for (const waiter of [...run.waiters]) waiter();
        return;
      }
      const delay = backoffMs(attempt, { baseMs: this.intervalMs, maxMs: this.maxIntervalMs });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        run.abort.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

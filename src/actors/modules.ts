import type { Logger } from 'pino';
import { errorText } from '../model/errors.js';

/** One capability of the running agent, as the composition starts and stops it. */
export interface AgentModule {
  name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export interface RunningModules {
  /** Stops every started module in reverse order; a module that fails to stop is logged and the rest still stop. */
  stop(): Promise<void>;
}

/**
 * Starts the modules in order. When one fails to start, the ones already started are stopped again (in reverse) and
 * the error is thrown, so a half-started agent never stays behind.
 */
export async function startModules(modules: readonly AgentModule[], log: Logger): Promise<RunningModules> {
  const started: AgentModule[] = [];
  const stopAll = async () => {
    while (started.length > 0) {
      const module = started.pop()!;
      const at = performance.now();
      try {
        await module.stop();
        log.debug({ step: 'module.stopped', module: module.name, ms: Math.round(performance.now() - at) }, 'stopped');
      } catch (err) {
        log.error(
          { step: 'module.stop_failed', module: module.name, err: errorText(err) },
          'module did not stop cleanly',
        );
      }
    }
  };
  for (const module of modules) {
    const at = performance.now();
    try {
      await module.start();
    } catch (err) {
      log.error({ step: 'module.start_failed', module: module.name, err: errorText(err) }, 'module did not start');
      await stopAll();
      throw err;
    }
    started.push(module);
    log.debug({ step: 'module.started', module: module.name, ms: Math.round(performance.now() - at) }, 'started');
  }
  let stopping: Promise<void> | null = null;
  return {
    stop: () => {
      stopping ??= stopAll();
      return stopping;
    },
  };
}

/**
 * The watchdog's arithmetic, kept pure so the machine, the model tests and the budget tests share it.
 *
 * Backoff: 1 s doubling up to 5 min with ±20 % jitter, so a crash-looping runtime does not hammer the
 * engine and several runtimes that crash together (power dip, shared I/O fault) do not restart in step.
 * Budget (OTP-style intensity): at most `max` runs of the container within `windowMs` — the run that
 * just crashed plus the watchdog's restarts. So the `max`-th crash inside the window sends the vPLC to
 * `failed` instead of being restarted ("5 crashes in 10 min → failed", docs/decisions.md#a-crash-loop-ends-in-failed).
 */

export interface RestartBudget {
  /** Crashes inside one window that put the vPLC in `failed` (the earlier ones are restarted). */
  max: number;
  windowMs: number;
}

export const DEFAULT_RESTART_BUDGET: RestartBudget = { max: 5, windowMs: 10 * 60_000 };

/** A run at least this long counts as healthy: the next crash starts the backoff again at 1 s. */
export const BACKOFF_RESET_AFTER_MS = 10 * 60_000;

/** The streak position for the crash at `crashAtMs`: reset to 0 after a healthy run. */
export function backoffAttemptAfterCrash(
  previousAttempt: number,
  startedAtMs: number | null,
  crashAtMs: number,
): number {
  if (startedAtMs !== null && crashAtMs - startedAtMs >= BACKOFF_RESET_AFTER_MS) return 0;
  return previousAttempt;
}

/** Restart times still inside the window that ends at `atMs`. */
export function restartsInWindow(restarts: readonly number[], atMs: number, budget: RestartBudget): number[] {
  return restarts.filter((t) => atMs - t < budget.windowMs);
}

/** Whether a crash at `atMs` may still be answered with a restart: counting this crash, fewer than `max`
 *  crashes (restarts in the window, plus this one) happened inside the window. */
export function withinRestartBudget(restarts: readonly number[], atMs: number, budget: RestartBudget): boolean {
  return restartsInWindow(restarts, atMs, budget).length + 1 < budget.max;
}

/** Milliseconds since the epoch of an engine timestamp, or null when it does not parse. */
export function parseInstant(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

export interface WaitForOptions {
  /** Give up after this long (default 5000 ms). A correctness bound, never a speed assertion. */
  timeoutMs?: number;
  /** Pause between attempts (default 25 ms). */
  intervalMs?: number;
  /** What was awaited, for the timeout error: `timed out after 5000 ms waiting for <message>`. */
  message?: string;
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function describeValue(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return String(value);
  }
}

/**
 * Polls `fn` until it returns a truthy value and resolves with that value. A throw or a rejection counts as
 * "not yet" (so `() => { expect(x).toBe(1); return true; }` works); the last one is quoted in the timeout error.
 * An attempt that hangs is abandoned at the deadline.
 *
 *   const hb = await waitFor(() => cloud.heartbeats.at(-1), { timeoutMs: 8000, message: 'a heartbeat' });
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitForOptions = {}): Promise<Truthy<Awaited<T>>> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let last: { kind: 'value' | 'error'; detail: unknown } | undefined;

  for (;;) {
    const remaining = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const expired = Symbol('expired');
    try {
      const value = await Promise.race([
        Promise.resolve().then(fn),
        new Promise<typeof expired>((resolve) => {
          timer = setTimeout(() => resolve(expired), Math.max(remaining, 0));
        }),
      ]);
      if (value !== expired && value) return value as Truthy<Awaited<T>>;
      last =
        value === expired
          ? { kind: 'error', detail: new Error('the last attempt was still running at the deadline') }
          : { kind: 'value', detail: value };
    } catch (err) {
      last = { kind: 'error', detail: err };
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(deadline - Date.now(), 0)));
  }

  const what = opts.message ?? 'a condition';
  const lastSeen =
    last === undefined
      ? 'the last attempt did not finish'
      : last.kind === 'error'
        ? `last error: ${last.detail instanceof Error ? last.detail.message : describeValue(last.detail)}`
        : `last value: ${describeValue(last.detail)}`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${lastSeen})`);
}

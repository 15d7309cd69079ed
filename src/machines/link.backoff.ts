/** Reconnection delay: 1 s doubling up to a 30 s cap, with ±30 % jitter so a fleet of agents does not
 *  reconnect in lock-step after a cloud restart. `random` returns a number in [0, 1). */
export function reconnectDelayMs(
  attempt: number,
  random: () => number,
  opts: { baseMs?: number; maxMs?: number; jitter?: number } = {},
): number {
  const baseMs = opts.baseMs ?? 1_000;
  const maxMs = opts.maxMs ?? 30_000;
  const jitter = opts.jitter ?? 0.3;
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  const spread = raw * jitter * (2 * random() - 1);
  return Math.round(Math.max(baseMs * (1 - jitter), Math.min(maxMs * (1 + jitter), raw + spread)));
}

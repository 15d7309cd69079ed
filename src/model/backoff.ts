/**
 * Exponential backoff, the one formula every retry in the agent (and its sidecar) uses: `baseMs` doubling per
 * attempt up to `maxMs`, spread by ±`jitter` so that a fleet of agents, or several runtimes that failed together,
 * do not retry in lock-step, and kept between `floorMs` and `ceilingMs`.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** Fraction of the delay to spread by, e.g. 0.3 for ±30 %; 0 for none. */
  jitter?: number;
  /** Smallest delay. Default: `baseMs × (1 − jitter)`. */
  floorMs?: number;
  /** Largest delay. Default: `maxMs × (1 + jitter)`. */
  ceilingMs?: number;
}

/** Delay before retry number `attempt` (0-based). `random` returns a number in [0, 1). */
export function backoffMs(attempt: number, policy: BackoffPolicy, random: () => number = () => 0.5): number {
  const jitter = policy.jitter ?? 0;
  const floor = policy.floorMs ?? policy.baseMs * (1 - jitter);
  const ceiling = policy.ceilingMs ?? policy.maxMs * (1 + jitter);
  // 2^52 already exceeds any cap; bounding the exponent keeps the arithmetic finite for any attempt count.
  const raw = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(0, attempt), 52));
  const spread = raw * (1 + jitter * (2 * random() - 1));
  return Math.round(Math.min(ceiling, Math.max(floor, spread)));
}

/** Reconnecting a link (cloud, sidecar): 1 s doubling to 30 s, ±30 %. */
export const RECONNECT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 30_000, jitter: 0.3 };

/** The watchdog restarting a crashed runtime: 1 s doubling to 5 min, ±20 %, never above 5 min. */
export const RESTART_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 5 * 60_000, jitter: 0.2, ceilingMs: 5 * 60_000 };

/** Asking the sidecar again for a DHCP lease: 1 s doubling to 300 s, ±30 %, at least 1 s. */
export const DHCP_RETRY_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 300_000, jitter: 0.3, floorMs: 1_000 };

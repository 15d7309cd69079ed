/**
 * Repeated commands get the first reply instead of a second operation (docs/protocol.md#idempotency-and-replay).
 *
 * A request is "the same" when topic, `correlation_id` and the whole payload (compared as canonical JSON, key
 * order ignored) are identical. The caller decides what is cacheable: only mutating topics with a correlation id,
 * and only replies their handlers produced.
 */
import { createHash } from 'node:crypto';

export const DEFAULT_IDEMPOTENCY_TTL_MS = 10 * 60_000;
export const DEFAULT_IDEMPOTENCY_MAX_ENTRIES = 10_000;

export type CachedReply = Record<string, unknown>;

/** What one run of an operation produced, and whether a repeat may be answered with it. */
export interface Outcome {
  reply: CachedReply;
  /** False for failures that say nothing about the command (the agent timed out or crashed): a repeat retries. */
  cacheable: boolean;
}

export interface IdempotencyOptions {
  /** How long a reply answers repeats, counted from the first request. Default 10 minutes. */
  ttlMs?: number;
  /** Bound on remembered requests; the oldest are forgotten first. Default 10,000. */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  createdAt: number;
  settled: boolean;
  outcome: Promise<Outcome>;
}

/** JSON with object keys sorted at every level, so equal payloads give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .sort()
      .filter((key) => record[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A fixed-size key: payloads may carry large uploads (run_command `files`), the cache keeps only a digest. */
export function idempotencyKey(topic: string, correlationId: unknown, payload: unknown): string {
  return createHash('sha256')
    .update(topic)
    .update('\n')
    .update(canonicalJson(correlationId))
    .update('\n')
    .update(canonicalJson(payload))
    .digest('hex');
}

export class IdempotencyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: IdempotencyOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_IDEMPOTENCY_MAX_ENTRIES);
    this.now = options.now ?? Date.now;
  }

  /**
   * Runs `operation` unless the same request was seen within the TTL; then answers with that request's reply,
   * waiting for it when it is still in flight (so concurrent repeats still make one operation).
   * `operation` must not reject: it reports failures as an outcome.
   */
  async run(
    topic: string,
    correlationId: unknown,
    payload: unknown,
    operation: () => Promise<Outcome>,
  ): Promise<{ reply: CachedReply; replayed: boolean }> {
    const key = idempotencyKey(topic, correlationId, payload);
    const now = this.now();
    const known = this.entries.get(key);
    if (known && !this.expired(known, now)) {
      const { reply } = await known.outcome;
      return { reply, replayed: true };
    }
    if (known) this.entries.delete(key);

    const entry: Entry = { createdAt: now, settled: false, outcome: operation() };
    this.entries.set(key, entry);
    this.prune(now);
    const outcome = await entry.outcome;
    entry.settled = true;
    if (!outcome.cacheable && this.entries.get(key) === entry) this.entries.delete(key);
    return { reply: outcome.reply, replayed: false };
  }

  /** Number of remembered requests (in flight or answered). */
  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  /** An operation still in flight is never expired: a repeat must join it, not start a second one. */
  private expired(entry: Entry, now: number): boolean {
    return entry.settled && now - entry.createdAt >= this.ttlMs;
  }

  private prune(now: number): void {
    // Entries sit in insertion order, which is creation order: expired ones are at the front.
    for (const [key, entry] of this.entries) {
      if (now - entry.createdAt < this.ttlMs) break;
      if (entry.settled) this.entries.delete(key);
    }
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(key);
    }
  }
}

/**
 * Repeated commands get the first reply instead of a second operation (docs/protocol.md#idempotency-and-replay).
 *
 * A request is "the same" when topic, `correlation_id` and the whole payload (compared as canonical JSON, key
 * order ignored) are identical. The caller decides what is cacheable: only mutating topics with a correlation id,
 * and only replies their handlers produced.
 */
import { createHash } from 'node:crypto';
import { measureJson } from '../../model/jsonShape.js';

export const DEFAULT_IDEMPOTENCY_TTL_MS = 10 * 60_000;
export const DEFAULT_IDEMPOTENCY_MAX_ENTRIES = 10_000;
/**
 * Bytes of replies kept for repeats, all entries together. A command's reply is normally well under 1 KiB, so this
 * holds thousands; the bound matters for run_command, whose replies carry a runtime's answer (up to
 * --run-command-max-bytes each) and were kept whole for the full 10 minutes.
 */
export const DEFAULT_IDEMPOTENCY_MAX_BYTES = 32 * 1024 * 1024;
/**
 * Largest reply kept whole. A larger one is replaced, for repeats, by a short reply saying that the request was
 * carried out: a repeat must still not run the command again, but need not get megabytes again.
 */
export const DEFAULT_IDEMPOTENCY_MAX_REPLY_BYTES = 1024 * 1024;

export type CachedReply = Record<string, unknown>;

/** What one run of an operation produced, and whether a repeat may be answered with it. */
export interface Outcome {
  reply: CachedReply;
  /** False for failures that say nothing about the command (the agent timed out or crashed): a repeat retries. */
  cacheable: boolean;
  /** About how many bytes the reply's JSON takes; measured when absent. */
  bytes?: number;
}

export interface IdempotencyOptions {
  /** How long a reply answers repeats, counted from the first request. Default 10 minutes. */
  ttlMs?: number;
  /** Bound on remembered requests; the oldest are forgotten first. Default 10,000. */
  maxEntries?: number;
  /** Bound on the bytes of remembered replies; the oldest are forgotten first. Default 32 MiB. */
  maxBytes?: number;
  /** Replies larger than this are remembered as a short "already carried out" reply. Default 1 MiB. */
  maxReplyBytes?: number;
  now?: () => number;
}

interface Entry {
  createdAt: number;
  settled: boolean;
  /** Bytes of the remembered reply, counted once settled. */
  bytes: number;
  outcome: Promise<Outcome>;
}

/** One open array or object: its members in output order and how many were written. */
interface Frame {
  members: unknown[];
  /** Object keys, sorted, parallel to `members`; null for an array. */
  keys: string[] | null;
  next: number;
}

/**
 * Writes the canonical JSON of `value` (object keys sorted at every level, so equal payloads give equal text whatever
 * their key order) to `sink` in pieces of about 64 KiB. Iterative, so depth costs no stack; the router has already
 * bounded the payload's depth and number of values (model/jsonShape.ts), so the work is linear in a bounded size.
 */
function writeCanonical(value: unknown, sink: (text: string) => void): void {
  let pending = '';
  const emit = (text: string) => {
    pending += text;
    if (pending.length >= 65_536) {
      sink(pending);
      pending = '';
    }
  };
  const stack: Frame[] = [];
  /** Writes a primitive at once, or opens a container and returns its frame. */
  const open = (item: unknown): void => {
    if (Array.isArray(item)) {
      emit('[');
      stack.push({ members: item, keys: null, next: 0 });
    } else if (item !== null && typeof item === 'object') {
      const record = item as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort();
      emit('{');
      stack.push({ members: keys.map((key) => record[key]), keys, next: 0 });
    } else {
      emit(JSON.stringify(item) ?? 'null');
    }
  };
  open(value);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.next === frame.members.length) {
      stack.pop();
      emit(frame.keys === null ? ']' : '}');
      continue;
    }
    const i = frame.next++;
    if (i > 0) emit(',');
    if (frame.keys !== null) emit(`${JSON.stringify(frame.keys[i])}:`);
    open(frame.members[i]);
  }
  if (pending !== '') sink(pending);
}

/** JSON with object keys sorted at every level, so equal payloads give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  writeCanonical(value, (text) => parts.push(text));
  return parts.join('');
}

/**
 * A fixed-size key: payloads may carry large uploads (run_command `files`), the cache keeps only a digest, and the
 * canonical text is hashed piece by piece instead of being built whole.
 */
export function idempotencyKey(topic: string, correlationId: unknown, payload: unknown): string {
  const hash = createHash('sha256').update(topic).update('\n');
  writeCanonical(correlationId, (text) => hash.update(text));
  hash.update('\n');
  writeCanonical(payload, (text) => hash.update(text));
  return hash.digest('hex');
}

export class IdempotencyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxReplyBytes: number;
  private readonly now: () => number;
  private storedBytes = 0;

  constructor(options: IdempotencyOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_IDEMPOTENCY_MAX_ENTRIES);
    this.maxBytes = options.maxBytes ?? DEFAULT_IDEMPOTENCY_MAX_BYTES;
    this.maxReplyBytes = Math.min(options.maxReplyBytes ?? DEFAULT_IDEMPOTENCY_MAX_REPLY_BYTES, this.maxBytes);
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
    if (known) this.forget(key, known);

    const entry: Entry = { createdAt: now, settled: false, bytes: 0, outcome: operation() };
    this.entries.set(key, entry);
    this.prune(now);
    const outcome = await entry.outcome;
    entry.settled = true;
    if (this.entries.get(key) === entry) {
      if (outcome.cacheable) this.remember(entry, outcome, this.now());
      else this.entries.delete(key);
    }
    this.prune(this.now());
    return { reply: outcome.reply, replayed: false };
  }

  /** Number of remembered requests (in flight or answered). */
  get size(): number {
    return this.entries.size;
  }

  /** About how many bytes the remembered replies take. */
  get bytes(): number {
    return this.storedBytes;
  }

  clear(): void {
    this.entries.clear();
    this.storedBytes = 0;
  }

  /** Counts a settled reply, or keeps a short stand-in for one too large to keep whole. */
  private remember(entry: Entry, outcome: Outcome, now: number): void {
    const bytes = outcome.bytes ?? replyBytes(outcome.reply);
    if (bytes <= this.maxReplyBytes) {
      entry.bytes = bytes;
    } else {
      const stub = carriedOut(outcome.reply, bytes, now);
      entry.outcome = Promise.resolve({ reply: stub, cacheable: true });
      entry.bytes = replyBytes(stub);
    }
    this.storedBytes += entry.bytes;
  }

  private forget(key: string, entry: Entry): void {
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.storedBytes -= entry.bytes;
  }

  /** An operation still in flight is never expired: a repeat must join it, not start a second one. */
  private expired(entry: Entry, now: number): boolean {
    return entry.settled && now - entry.createdAt >= this.ttlMs;
  }

  private prune(now: number): void {
    // Entries sit in insertion order, which is creation order: expired ones are at the front.
    for (const [key, entry] of this.entries) {
      if (now - entry.createdAt < this.ttlMs) break;
      if (entry.settled) this.forget(key, entry);
    }
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries) break;
      this.forget(key, entry);
    }
    // Only answered requests hold bytes; one in flight stays so that its repeats join it.
    for (const [key, entry] of this.entries) {
      if (this.storedBytes <= this.maxBytes) break;
      if (entry.settled) this.forget(key, entry);
    }
  }
}

function replyBytes(reply: CachedReply): number {
  const shape = measureJson(reply, { maxDepth: Number.POSITIVE_INFINITY, maxValues: Number.POSITIVE_INFINITY });
  return shape.ok ? shape.bytes : 0;
}

const MIB = 1024 * 1024;

/**
 * What a repeat gets instead of a reply too large to keep: the envelope, and an error saying that the first request
 * was carried out and how to run it again. A run_command reply keeps its `http_response` shape, so cloud screens that
 * read `http_response.body.error` show the sentence.
 */
function carriedOut(reply: CachedReply, bytes: number, now: number): CachedReply {
  const original = reply.http_response as { status_code?: unknown } | undefined;
  const answered =
    typeof original?.status_code === 'number' ? ` (the runtime answered HTTP ${original.status_code})` : '';
  const size = bytes >= MIB ? `${Math.round(bytes / MIB)} MiB` : `${Math.round(bytes / 1024)} KiB`;
  const error =
    `This request was already carried out at ${new Date(now).toISOString()}${answered}; its reply (about ${size}) ` +
    'is too large to keep for repeats. Send it with a new correlation_id to run it again.';
  const stub: CachedReply = { action: reply.action, correlation_id: reply.correlation_id, status: 'error', error };
  if (original !== undefined) {
    stub.http_response = {
      status_code: 409,
      headers: {},
      body: { error },
      ok: false,
      content_type: 'application/json',
    };
  }
  return stub;
}

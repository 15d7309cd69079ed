/**
 * CPU and memory samples of one vPLC (or of the host) for `get_consumption_*` (docs/protocol.md#usage-history).
 *
 * Unlike the old agent (count-based, so "48 h" was only nominal when sampling slowed down), retention is by time:
 * a sample older than `retentionMs` before the newest sample is dropped. Values are rounded, not truncated
 * (truncation biased every figure down).
 *
 * Every vPLC keeps one buffer, so samples live in parallel typed arrays used as a ring (10 bytes per sample) that
 * grows only as far as needed, instead of one JS object per sample (see `npm run bench`).
 */

export interface UsageBufferOptions {
  /** How long samples are kept, relative to the newest one. Default 48 h. */
  retentionMs?: number;
  /** Safety net against a caller that samples far too often: the oldest samples beyond this count are dropped.
   *  Default: one sample per second over the retention window. */
  maxSamples?: number;
}

export interface UsageSeries {
  cpu: Array<{ timestamp: number; cpu: number }>;
  memory: Array<{ timestamp: number; memory: number }>;
}

const DEFAULT_RETENTION_MS = 48 * 3600 * 1000;
const FIRST_CAPACITY = 64;
const MAX_U16 = 0xffff;
const MAX_U32 = 0xffffffff;

function clampRound(value: number, max: number): number {
  return Math.min(max, Math.max(0, Math.round(value)));
}

export class UsageBuffer {
  private readonly retentionSec: number;
  private readonly maxSamples: number;
  // Unix seconds fit an unsigned 32-bit integer until 2106; CPU percent of a multi-core container fits 16 bits.
  private timestamps = new Uint32Array(0);
  private cpus = new Uint16Array(0);
  private memories = new Uint32Array(0);
  private head = 0;
  private count = 0;
  /** Sequence number of the sample at `head`; sequence numbers count every sample ever added. */
  private headSeq = 0;
  /** Sequence number of the latest sample added with a timestamp before its predecessor (a clock step back).
   *  While it is not after `headSeq`, timestamps are sorted and `query` can binary-search. */
  private disorderSeq = -1;

  constructor(opts: UsageBufferOptions = {}) {
    const retentionMs = opts.retentionMs ?? DEFAULT_RETENTION_MS;
    if (!(retentionMs > 0)) throw new RangeError(`UsageBuffer retentionMs must be positive, got ${retentionMs}`);
    this.retentionSec = retentionMs / 1000;
    this.maxSamples = Math.max(1, Math.floor(opts.maxSamples ?? Math.ceil(this.retentionSec) + 1));
  }

  /** Record one sample. `timestampSec` is unix seconds (truncated); cpu percent and memory MB are rounded. */
  add(timestampSec: number, cpu: number, memoryMb: number): void {
    if (!Number.isFinite(timestampSec) || !Number.isFinite(cpu) || !Number.isFinite(memoryMb)) return;
    const timestamp = Math.floor(timestampSec);
    if (timestamp < 0 || timestamp > MAX_U32) return;

    if (this.count > 0 && timestamp < this.timestampAt(this.count - 1)) this.disorderSeq = this.headSeq + this.count;

    const cutoff = timestamp - this.retentionSec;
    while (this.count > 0 && this.timestamps[this.head]! < cutoff) this.dropOldest();

    if (this.count === this.timestamps.length) {
      if (this.count < this.maxSamples) this.grow();
      else this.dropOldest();
    }
    const at = (this.head + this.count) % this.timestamps.length;
    this.timestamps[at] = timestamp;
    this.cpus[at] = clampRound(cpu, MAX_U16);
    this.memories[at] = clampRound(memoryMb, MAX_U32);
    this.count++;
  }

  /** Samples with `start <= timestamp <= end`, in insertion order, as the cloud expects them. */
  query(start: number, end: number): UsageSeries {
    const series: UsageSeries = { cpu: [], memory: [] };
    const sorted = this.disorderSeq <= this.headSeq;
    let i = sorted ? this.firstAtOrAfter(start) : 0;
    for (; i < this.count; i++) {
      const timestamp = this.timestampAt(i);
      if (timestamp > end) {
        if (sorted) break;
        continue;
      }
      if (timestamp < start) continue;
      const at = (this.head + i) % this.timestamps.length;
      series.cpu.push({ timestamp, cpu: this.cpus[at]! });
      series.memory.push({ timestamp, memory: this.memories[at]! });
    }
    return series;
  }

  size(): number {
    return this.count;
  }

  clear(): void {
    this.headSeq += this.count;
    this.head = 0;
    this.count = 0;
    this.disorderSeq = -1;
    this.timestamps = new Uint32Array(0);
    this.cpus = new Uint16Array(0);
    this.memories = new Uint32Array(0);
  }

  /** Timestamp of the i-th oldest sample. */
  private timestampAt(i: number): number {
    return this.timestamps[(this.head + i) % this.timestamps.length]!;
  }

  private firstAtOrAfter(start: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timestampAt(mid) < start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private dropOldest(): void {
    this.head = (this.head + 1) % this.timestamps.length;
    this.count--;
    this.headSeq++;
  }

  private grow(): void {
    const old = this.timestamps.length;
    // Double while small, then grow by a quarter so that a full 48 h buffer wastes at most 25 %.
    const wanted = old === 0 ? FIRST_CAPACITY : old < 4096 ? old * 2 : Math.ceil(old * 1.25);
    const capacity = Math.min(this.maxSamples, wanted);
    const timestamps = new Uint32Array(capacity);
    const cpus = new Uint16Array(capacity);
    const memories = new Uint32Array(capacity);
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) % old;
      timestamps[i] = this.timestamps[from]!;
      cpus[i] = this.cpus[from]!;
      memories[i] = this.memories[from]!;
    }
    this.timestamps = timestamps;
    this.cpus = cpus;
    this.memories = memories;
    this.head = 0;
  }
}

/**
 * What a benchmark file exports, and the measuring helpers they share. A benchmark is a file
 * `scripts/bench/<name>.bench.ts` whose default export is `defineBenchmark({...})`; `npm run bench` runs each one in
 * its own Node process (a clean heap, `--expose-gc`) and writes its result to `bench-results/<name>.json`.
 */

export interface Benchmark {
  /** File-name-safe id: the result goes to `bench-results/<name>.json`. */
  name: string;
  description: string;
  run(): Promise<Record<string, unknown>> | Record<string, unknown>;
}

export function defineBenchmark(benchmark: Benchmark): Benchmark {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(benchmark.name)) {
    throw new Error(`benchmark name ${JSON.stringify(benchmark.name)} must be lower-case letters, digits and dashes`);
  }
  return benchmark;
}

/** Full garbage collection; the harness starts every benchmark process with --expose-gc. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run benchmarks through `npm run bench` (needs --expose-gc)');
  gc();
  gc();
}

/** Heap plus memory outside it (typed-array backing stores live there). */
export function memoryInUse(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Bytes retained by what `build` returns, measured after full collections before and after. */
export function retainedBytes<T>(build: () => T): { bytes: number; value: T } {
  collectGarbage();
  const before = memoryInUse();
  const value = build();
  collectGarbage();
  return { bytes: memoryInUse() - before, value };
}

export interface Timing {
  iterations: number;
  medianMs: number;
  p95Ms: number;
}

/** Results land here so that the JIT cannot drop the work that produced them. */
export const sink: unknown[] = [];

/** Run `fn` a few times to warm up, then `iterations` times; per-call median and 95th percentile. */
export function time(fn: () => unknown, iterations: number): Timing {
  for (let i = 0; i < Math.min(20, iterations); i++) sink[0] = fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    sink[i & 7] = fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { iterations, medianMs: round(at(0.5), 4), p95Ms: round(at(0.95), 4) };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * One of the performance targets (bench/README.md): a figure, the baseline measured in the same run, and their
 * ratio. Reported, never asserted: `met` only says whether this run's figure is inside the target.
 */
export interface TargetResult {
  /** File-name-safe id: the result also goes to `bench/results/<id>.json`. */
  id: string;
  /** The target in words, as bench/README.md states it. */
  target: string;
  figure: number;
  unit: string;
  baseline: { what: string; value: number } | null;
  /** figure / baseline (null without a baseline). */
  ratio: number | null;
  /** Whether this run's figure (or ratio) is inside the target. */
  met: boolean;
  details?: Record<string, unknown>;
}

export function target(t: Omit<TargetResult, 'ratio'> & { ratio?: number | null }): TargetResult {
  const ratio =
    t.ratio !== undefined ? t.ratio : t.baseline && t.baseline.value > 0 ? round(t.figure / t.baseline.value, 2) : null;
  return { ...t, ratio };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

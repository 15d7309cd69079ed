import { UsageBuffer } from '../../src/io/metrics/usageBuffer.js';
import { defineBenchmark, retainedBytes, round, time } from './harness.js';

const PERIOD_S = 5;
const RETENTION_S = 48 * 3600;
const SIMULATED_S = 50 * 3600; // past 48 h, so both stores sit in their steady state
const VPLCS = 20;
const T0 = 1_767_225_600;

/** The shape the old agent kept (a deque of per-sample records), with its count-based cap. */
class NaiveBuffer {
  private readonly samples: Array<{ timestamp: number; cpu: number; memory: number }> = [];
  add(timestamp: number, cpu: number, memory: number): void {
    this.samples.push({ timestamp: Math.floor(timestamp), cpu: Math.round(cpu), memory: Math.round(memory) });
    // +1: the time-based window includes both ends, so it holds one sample more than 48 h / 5 s.
    if (this.samples.length > RETENTION_S / PERIOD_S + 1) this.samples.shift();
  }
  query(start: number, end: number) {
    const hits = this.samples.filter((s) => s.timestamp >= start && s.timestamp <= end);
    return {
      cpu: hits.map((s) => ({ timestamp: s.timestamp, cpu: s.cpu })),
      memory: hits.map((s) => ({ timestamp: s.timestamp, memory: s.memory })),
    };
  }
}

function fill<B extends { add(t: number, c: number, m: number): void }>(make: () => B): B[] {
  const buffers: B[] = [];
  for (let v = 0; v < VPLCS; v++) {
    const buffer = make();
    let seed = v + 1;
    for (let t = T0; t <= T0 + SIMULATED_S; t += PERIOD_S) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      buffer.add(t, (seed % 10_000) / 100, 200 + (seed % 300_000) / 1000);
    }
    buffers.push(buffer);
  }
  return buffers;
}

export default defineBenchmark({
  name: 'usage-buffer',
  description: `UsageBuffer vs an array of objects: memory per vPLC holding 48 h of ${PERIOD_S} s samples, and query time`,
  run() {
    const ours = retainedBytes(() => fill(() => new UsageBuffer()));
    const naive = retainedBytes(() => fill(() => new NaiveBuffer()));
    const end = T0 + SIMULATED_S;
    const oursOne = ours.value[0]!;
    const naiveOne = naive.value[0]!;
    const samples = oursOne.size();
    if (naiveOne.query(0, end).cpu.length !== samples) throw new Error('the two stores disagree on the sample count');

    const lastHour = {
      ours: time(() => oursOne.query(end - 3600, end), 2000),
      naive: time(() => naiveOne.query(end - 3600, end), 2000),
    };
    const all = { ours: time(() => oursOne.query(0, end), 200), naive: time(() => naiveOne.query(0, end), 200) };
    const perVplcOurs = ours.bytes / VPLCS;
    const perVplcNaive = naive.bytes / VPLCS;
    return {
      vplcs: VPLCS,
      samplesPerVplc: samples,
      memoryPerVplcKiB: { usageBuffer: round(perVplcOurs / 1024, 1), arrayOfObjects: round(perVplcNaive / 1024, 1) },
      bytesPerSample: {
        usageBuffer: round(perVplcOurs / samples, 1),
        arrayOfObjects: round(perVplcNaive / samples, 1),
      },
      memoryRatioNaiveOverOurs: round(perVplcNaive / perVplcOurs, 1),
      queryLastHourMs: lastHour,
      queryLastHourRatioNaiveOverOurs: round(lastHour.naive.medianMs / lastHour.ours.medianMs, 1),
      queryAll48hMs: all,
      queryAll48hRatioNaiveOverOurs: round(all.naive.medianMs / all.ours.medianMs, 1),
    };
  },
});

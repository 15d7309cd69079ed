import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { HostMetrics, HostSample } from '../../src/io/metrics/hostMetrics.js';
import { OrchestratorUsageSampler } from '../../src/io/metrics/orchestratorUsage.js';
import { UsageBuffer } from '../../src/io/metrics/usageBuffer.js';

const T0 = 1_767_225_600;
const H = 3600;

describe('UsageBuffer', () => {
  it('returns samples with start <= timestamp <= end, bounds included, in insertion order', () => {
    const buffer = new UsageBuffer();
    for (let i = 0; i < 10; i++) buffer.add(T0 + i * 5, i, 100 + i);
    expect(buffer.query(T0 + 10, T0 + 20)).toEqual({
      cpu: [
        { timestamp: T0 + 10, cpu: 2 },
        { timestamp: T0 + 15, cpu: 3 },
        { timestamp: T0 + 20, cpu: 4 },
      ],
      memory: [
        { timestamp: T0 + 10, memory: 102 },
        { timestamp: T0 + 15, memory: 103 },
        { timestamp: T0 + 20, memory: 104 },
      ],
    });
    expect(buffer.query(T0 + 11, T0 + 14)).toEqual({ cpu: [], memory: [] });
    expect(buffer.query(T0 + 50, T0)).toEqual({ cpu: [], memory: [] });
    expect(buffer.query(0, Number.MAX_SAFE_INTEGER).cpu).toHaveLength(10);
  });

  it('rounds cpu and memory to integers instead of truncating them', () => {
    const buffer = new UsageBuffer();
    buffer.add(T0 + 0.9, 12.5, 2559.6);
    buffer.add(T0 + 1, 12.4, 2559.4);
    buffer.add(T0 + 2, -3, -1);
    expect(buffer.query(T0, T0 + 2)).toEqual({
      cpu: [
        { timestamp: T0, cpu: 13 },
        { timestamp: T0 + 1, cpu: 12 },
        { timestamp: T0 + 2, cpu: 0 },
      ],
      memory: [
        { timestamp: T0, memory: 2560 },
        { timestamp: T0 + 1, memory: 2559 },
        { timestamp: T0 + 2, memory: 0 },
      ],
    });
  });

  it('keeps multi-core CPU percentages above 100', () => {
    const buffer = new UsageBuffer();
    buffer.add(T0, 385.2, 1);
    expect(buffer.query(T0, T0).cpu).toEqual([{ timestamp: T0, cpu: 385 }]);
  });

  it('keeps 48 hours of samples by time, whatever the sampling rate', () => {
    const buffer = new UsageBuffer();
    // 40 s period: the old agent's 34,560-sample ring would have held 16 days; we keep exactly 48 h.
    for (let t = T0; t <= T0 + 72 * H; t += 40) buffer.add(t, 1, 1);
    const newest = T0 + 72 * H;
    const kept = buffer.query(0, Number.MAX_SAFE_INTEGER).cpu;
    expect(kept[0]!.timestamp).toBe(newest - 48 * H);
    expect(kept.at(-1)!.timestamp).toBe(newest);
    expect(buffer.size()).toBe((48 * H) / 40 + 1);
  });

  it('keeps every 5 s sample of the last 48 hours', () => {
    const buffer = new UsageBuffer();
    for (let t = T0; t < T0 + 50 * H; t += 5) buffer.add(t, 1, 1);
    expect(buffer.size()).toBe((48 * H) / 5 + 1);
  });

  it('drops old samples relative to the newest sample, not the clock, after a gap', () => {
    const buffer = new UsageBuffer({ retentionMs: 60_000 });
    buffer.add(T0, 1, 1);
    buffer.add(T0 + 30, 2, 2);
    buffer.add(T0 + 61, 3, 3);
    expect(buffer.query(0, Number.MAX_SAFE_INTEGER).cpu.map((s) => s.cpu)).toEqual([2, 3]);
    buffer.add(T0 + 10_000, 4, 4);
    expect(buffer.query(0, Number.MAX_SAFE_INTEGER).cpu.map((s) => s.cpu)).toEqual([4]);
  });

  it('still answers correctly after the clock steps back', () => {
    const buffer = new UsageBuffer();
    buffer.add(T0 + 100, 1, 1);
    buffer.add(T0 + 105, 2, 2);
    buffer.add(T0 + 50, 3, 3);
    buffer.add(T0 + 55, 4, 4);
    expect(buffer.query(T0 + 50, T0 + 100).cpu.map((s) => s.cpu)).toEqual([1, 3, 4]);
    expect(buffer.query(T0 + 52, T0 + 104).cpu.map((s) => s.cpu)).toEqual([1, 4]);
  });

  it('ignores samples that are not numbers', () => {
    const buffer = new UsageBuffer();
    buffer.add(Number.NaN, 1, 1);
    buffer.add(T0, Number.POSITIVE_INFINITY, 1);
    buffer.add(T0, 1, Number.NaN);
    buffer.add(-1, 1, 1);
    expect(buffer.size()).toBe(0);
  });

  it('caps the count as a safety net against runaway sampling', () => {
    const buffer = new UsageBuffer({ retentionMs: 10_000, maxSamples: 5 });
    for (let i = 0; i < 8; i++) buffer.add(T0, i, i);
    expect(buffer.query(T0, T0).cpu.map((s) => s.cpu)).toEqual([3, 4, 5, 6, 7]);
  });

  it('forgets everything on clear and works again afterwards', () => {
    const buffer = new UsageBuffer();
    for (let i = 0; i < 100; i++) buffer.add(T0 + i, i, i);
    buffer.clear();
    expect(buffer.size()).toBe(0);
    expect(buffer.query(0, Number.MAX_SAFE_INTEGER)).toEqual({ cpu: [], memory: [] });
    buffer.add(T0, 7, 8);
    expect(buffer.query(T0, T0)).toEqual({ cpu: [{ timestamp: T0, cpu: 7 }], memory: [{ timestamp: T0, memory: 8 }] });
  });

  it('answers every query like a plain filtered list would (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: -30, max: 60 }), fc.integer({ min: 0, max: 500 })), { maxLength: 300 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        (steps, a, b) => {
          const retention = 3600;
          const buffer = new UsageBuffer({ retentionMs: retention * 1000 });
          const model: Array<{ t: number; v: number }> = [];
          let t = T0;
          for (const [dt, v] of steps) {
            t += dt;
            buffer.add(t, v, v);
            const cutoff = t - retention;
            // The model drops from the oldest end only, as far as the first sample within the window.
            while (model.length > 0 && model[0]!.t < cutoff) model.shift();
            model.push({ t, v });
          }
          const [start, end] = [T0 - 10_000 + Math.min(a, b), T0 - 10_000 + Math.max(a, b)];
          const want = model.filter((s) => s.t >= start && s.t <= end);
          const got = buffer.query(start, end);
          expect(got.cpu).toEqual(want.map((s) => ({ timestamp: s.t, cpu: s.v })));
          expect(got.memory).toEqual(want.map((s) => ({ timestamp: s.t, memory: s.v })));
          expect(buffer.size()).toBe(model.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('OrchestratorUsageSampler', () => {
  function fakeMetrics(sample: Partial<HostSample> | Error): HostMetrics {
    return {
      sample: async () => {
        if (sample instanceof Error) throw sample;
        return {
          cpuPercent: 12.6,
          memoryUsedGiB: 2.5,
          memoryTotalGiB: 15.5,
          diskUsedGiB: 1,
          diskTotalGiB: 2,
          uptimeSeconds: 1,
          memoryUsedMb: 2561,
          ...sample,
        };
      },
    } as unknown as HostMetrics;
  }

  it('appends the host CPU and memory in MB, rounded, on each tick', async () => {
    const buffer = new UsageBuffer();
    const sampler = new OrchestratorUsageSampler({
      metrics: fakeMetrics({}),
      buffer,
      log: pino({ level: 'silent' }),
      now: () => T0 * 1000 + 400,
    });
    await sampler.tick();
    expect(buffer.query(T0, T0)).toEqual({
      cpu: [{ timestamp: T0, cpu: 13 }],
      memory: [{ timestamp: T0, memory: 2561 }],
    });
  });

  it('logs a failed sample and keeps going', async () => {
    const buffer = new UsageBuffer();
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const sampler = new OrchestratorUsageSampler({
      metrics: fakeMetrics(new Error('cannot read /proc/stat')),
      buffer,
      log,
    });
    await sampler.tick();
    await sampler.tick();
    expect(buffer.size()).toBe(0);
    expect(lines.filter((l) => l.includes('"level":40'))).toHaveLength(1);
    expect(lines[0]).toContain('cannot read /proc/stat');
  });

  it('samples every 5 s on its own schedule until stopped', async () => {
    const buffer = new UsageBuffer();
    const sampler = new OrchestratorUsageSampler({ metrics: fakeMetrics({}), buffer, log: pino({ level: 'silent' }) });
    sampler.start();
    try {
      const deadline = Date.now() + 7000;
      while (buffer.size() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(buffer.size()).toBe(1);
    } finally {
      sampler.stop();
    }
    const after = buffer.size();
    await new Promise((r) => setTimeout(r, 5500));
    expect(buffer.size()).toBe(after);
  }, 20_000);
});

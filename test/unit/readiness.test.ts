import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RuntimeReadiness } from '../../src/actors/vplc/readiness.js';
import type { VplcStatus } from '../../src/actors/vplc/supervisor.js';

const log = pino({ level: 'silent' });

function status(over: Partial<VplcStatus>): VplcStatus {
  return {
    name: 'plc1',
    state: 'running',
    phase: 'running',
    step: null,
    desired: 'running',
    operation: null,
    operationStartedAt: null,
    failedStep: null,
    updatedAt: '2026-12-01T00:00:00.000Z',
    containerId: 'c1',
    lastError: null,
    failure: null,
    restartCount: 0,
    startedAt: '2026-12-01T00:00:00.000Z',
    spec: { name: 'plc1', vnics: [], serials: [] },
    ...over,
  };
}

describe('runtime readiness', () => {
  afterEach(() => vi.useRealTimers());

  it('is not ready until the API answers, then ready until the container run ends', async () => {
    vi.useFakeTimers();
    let answers = false;
    const probe = vi.fn(async () => answers);
    const readiness = new RuntimeReadiness({ probe, internalIp: () => '172.20.0.2', log, intervalMs: 100 });
    readiness.observe(status({}));
    await vi.advanceTimersByTimeAsync(350);
    expect(readiness.isReady('plc1')).toBe(false);
    expect(probe.mock.calls.length).toBeGreaterThanOrEqual(2);
    const waiting = readiness.whenReady('plc1', 5_000);
    answers = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await waiting).toBe(true);
    expect(readiness.isReady('plc1')).toBe(true);
    const calls = probe.mock.calls.length;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(probe.mock.calls.length).toBe(calls);

    // A new container run (restart) starts over; leaving `running` ends readiness.
    answers = false;
    readiness.observe(status({ startedAt: '2026-12-01T00:05:00.000Z' }));
    expect(readiness.isReady('plc1')).toBe(false);
    readiness.observe(status({ phase: 'stopping', state: 'stopping.stop' }));
    expect(readiness.isReady('plc1')).toBe(false);
    readiness.stop();
  });

  it('waits for the internal address before probing, and a waiter gives up at its bound or when the run ends', async () => {
    vi.useFakeTimers();
    let ip: string | null = null;
    const probe = vi.fn(async () => false);
    const readiness = new RuntimeReadiness({ probe, internalIp: () => ip, log, intervalMs: 100 });
    readiness.observe(status({}));
    await vi.advanceTimersByTimeAsync(500);
    expect(probe).not.toHaveBeenCalled();
    ip = '172.20.0.2';
    const bounded = readiness.whenReady('plc1', 1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await bounded).toBe(false);
    expect(probe).toHaveBeenCalled();
    const ended = readiness.whenReady('plc1', 60_000);
    readiness.observe(status({ phase: 'deleting', state: 'deleting.stop' }));
    expect(await ended).toBe(false);
    expect(await readiness.whenReady('unknown', 1_000)).toBe(false);
  });
});

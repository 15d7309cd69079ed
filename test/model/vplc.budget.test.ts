import { describe, expect, it } from 'vitest';
import type { VplcInput } from '../../src/machines/vplc/machine.js';
import { MODEL_SPEC } from './support/vplcGraph.js';
import { VplcHarness } from './support/vplcHarness.js';

/** The watchdog under a simulated clock: hours pass in microseconds and every delay is exact (no jitter). */

const MIN = 60_000;

function runningVplc(extra: Partial<VplcInput> = {}): VplcHarness {
  return VplcHarness.start({
    spec: MODEL_SPEC,
    initial: 'running',
    containerId: 'c-1',
    startedAt: new Date(Date.parse('2026-01-20T10:00:00.000Z')).toISOString(),
    random: () => 0.5,
    budget: { max: 5, windowMs: 10 * MIN },
    ...extra,
  });
}

async function settle(h: VplcHarness, op: Parameters<VplcHarness['fake']['only']>[0], output?: unknown) {
  await h.apply({ type: `xstate.done.actor.${op}`, output });
}

async function reachRunning(h: VplcHarness): Promise<void> {
  await settle(h, 'attachAgent');
  await settle(h, 'startDhcp');
  expect(h.snapshot.value).toBe('running');
}

/** Crash now; returns the backoff the machine chose. Leaves the vPLC running again if it restarts. */
async function crash(h: VplcHarness, exitCode = 1, oomKilled = false): Promise<number | null> {
  h.actor.send({ type: 'container.died', exitCode, oomKilled, at: new Date(h.clock.now()).toISOString() });
  if (h.snapshot.matches('failed')) return null;
  await settle(h, 'stopDhcp');
  expect(h.snapshot.value).toEqual({ restarting: 'backoff' });
  const delay = h.snapshot.context.restartAt! - h.clock.now();
  h.clock.increment(delay);
  await settle(h, 'startContainer', { containerId: 'c-1', startedAt: new Date(h.clock.now()).toISOString() });
  await reachRunning(h);
  return delay;
}

describe('restart budget (simulated clock)', () => {
  it('5 crashes in 10 min → failed: the first 4 are restarted with doubling backoff, the 5th is not', async () => {
    const h = runningVplc();
    await reachRunning(h);
    const delays: Array<number | null> = [];
    for (let i = 0; i < 4; i++) {
      h.clock.increment(20_000);
      delays.push(await crash(h));
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000]);
    h.clock.increment(20_000);
    expect(await crash(h, 137, true)).toBeNull();
    const s = h.snapshot;
    expect(s.value).toBe('failed');
    expect(s.context.failure).toMatchObject({ exitCode: 137, oomKilled: true, operation: null });
    expect(s.context.failure?.reason).toMatch(/plc-1 stopped unexpectedly 5 times within 10 min/);
    expect(s.context.failure?.reason).toMatch(/out of memory/);
    expect(s.context.restartCount).toBe(4);
    // It stays failed: more facts do not restart it, and nothing is in flight.
    h.actor.send({ type: 'container.died', exitCode: 1, oomKilled: false, at: new Date(h.clock.now()).toISOString() });
    h.clock.increment(60 * MIN);
    expect(h.snapshot.value).toBe('failed');
    expect(h.fake.pending()).toEqual([]);
  });

  it('never fails when the same crashes are spread over hours, and the backoff starts over after a healthy run', async () => {
    const h = runningVplc();
    await reachRunning(h);
    for (let i = 0; i < 30; i++) {
      h.clock.increment(40 * MIN);
      expect(await crash(h)).toBe(1_000);
      expect(h.snapshot.value).toBe('running');
    }
    expect(h.snapshot.context.restartCount).toBe(30);
  });

  it('counts only the crashes inside the window: 4 fast crashes, a pause of 10 minutes, 4 more', async () => {
    const h = runningVplc();
    await reachRunning(h);
    for (let i = 0; i < 4; i++) expect(await crash(h)).not.toBeNull();
    h.clock.increment(10 * MIN);
    for (let i = 0; i < 4; i++) expect(await crash(h)).not.toBeNull();
    expect(h.snapshot.value).toBe('running');
  });

  it('takes the budget from its input', async () => {
    const h = runningVplc({ budget: { max: 3, windowMs: 60 * MIN } });
    await reachRunning(h);
    expect(await crash(h)).not.toBeNull();
    expect(await crash(h)).not.toBeNull();
    expect(await crash(h)).toBeNull();
    expect(h.snapshot.value).toBe('failed');
  });

  it('leaves a failed vPLC to the cloud: START gives it a fresh budget', async () => {
    const h = runningVplc({ budget: { max: 2, windowMs: 60 * MIN } });
    await reachRunning(h);
    await crash(h);
    expect(await crash(h)).toBeNull();
    h.actor.send({ type: 'START' });
    expect(h.snapshot.value).toEqual({ starting: 'start' });
    await settle(h, 'startContainer', { containerId: 'c-1', startedAt: new Date(h.clock.now()).toISOString() });
    await reachRunning(h);
    expect(h.ended).toEqual([{ type: 'operation.ended', operation: 'start', success: true, error: null }]);
    expect(await crash(h)).not.toBeNull();
  });

  it('never restarts a vPLC the cloud stopped, and its own stop is no crash', async () => {
    const h = runningVplc();
    await reachRunning(h);
    h.actor.send({ type: 'STOP' });
    await settle(h, 'stopDhcp');
    h.actor.send({ type: 'container.died', exitCode: 0, oomKilled: false, at: new Date(h.clock.now()).toISOString() });
    await settle(h, 'stopContainer');
    expect(h.snapshot.value).toBe('stopped');
    h.actor.send({
      type: 'container.died',
      exitCode: 137,
      oomKilled: false,
      at: new Date(h.clock.now()).toISOString(),
    });
    h.clock.increment(60 * MIN);
    expect(h.snapshot.value).toBe('stopped');
    expect(h.snapshot.context.restartCount).toBe(0);
    expect(h.fake.pending()).toEqual([]);
  });

  it('ignores a late die event from before the current run', async () => {
    const h = runningVplc();
    await reachRunning(h);
    h.clock.increment(MIN);
    h.actor.send({ type: 'container.died', exitCode: 0, oomKilled: false, at: '2026-01-20T09:59:00.000Z' });
    expect(h.snapshot.value).toBe('running');
  });

  it('stops the backoff when the cloud sends STOP and reports the stop at once', async () => {
    const h = runningVplc();
    await reachRunning(h);
    h.actor.send({ type: 'container.died', exitCode: 2, oomKilled: false, at: new Date(h.clock.now()).toISOString() });
    await settle(h, 'stopDhcp');
    expect(h.snapshot.value).toEqual({ restarting: 'backoff' });
    h.actor.send({ type: 'STOP' });
    expect(h.snapshot.value).toBe('stopped');
    expect(h.ended).toEqual([{ type: 'operation.ended', operation: 'stop', success: true, error: null }]);
    h.clock.increment(60 * MIN);
    expect(h.snapshot.value).toBe('stopped');
  });
});

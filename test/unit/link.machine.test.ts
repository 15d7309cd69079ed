import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import { backoffMs, RECONNECT_BACKOFF } from '../../src/model/backoff.js';

const reconnectDelayMs = (attempt: number, random: () => number) => backoffMs(attempt, RECONNECT_BACKOFF, random);
import { type LinkEvent, linkMachine, type LinkSession } from '../../src/machines/link.machine.js';

/** A link whose connect attempts follow a script, with counters for the actors the machine runs. */
function harness(script: Array<'ok' | 'fail'>) {
  const clock = new SimulatedClock();
  const live = { sessions: 0, heartbeats: 0, maxHeartbeats: 0 };
  let attempts = 0;
  let lose: ((reason: string) => void) | null = null;
  const machine = linkMachine.provide({
    actors: {
      connect: fromPromise<LinkSession, void>(async () => {
        const outcome = script[attempts++] ?? 'ok';
        if (outcome === 'fail') throw new Error(`attempt ${attempts} refused`);
        return { id: `s${attempts}` };
      }),
      // The session is where a heartbeat loop lives (as the cloud's does): count both.
      session: fromCallback<LinkEvent, LinkSession>(({ sendBack }) => {
        live.sessions++;
        live.heartbeats++;
        live.maxHeartbeats = Math.max(live.maxHeartbeats, live.heartbeats);
        lose = (reason) => sendBack({ type: 'CONNECTION_LOST', reason });
        return () => {
          live.sessions--;
          live.heartbeats--;
          lose = null;
        };
      }),
    },
  });
  const actor = createActor(machine, { clock, input: { random: () => 0.5 } });
  actor.start();
  return { actor, clock, live, attempts: () => attempts, lose: (reason: string) => lose?.(reason) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('link machine', () => {
  it('goes online after a successful connect and runs one session and one heartbeat loop', async () => {
    const h = harness(['ok']);
    await settle();
    expect(h.actor.getSnapshot().value).toBe('online');
    expect(h.live).toMatchObject({ sessions: 1, heartbeats: 1 });
  });

  it('backs off with growing delays after refused attempts and stops heartbeats while offline', async () => {
    const h = harness(['fail', 'fail', 'fail', 'ok']);
    await settle();
    expect(h.actor.getSnapshot().value).toBe('backingOff');
    expect(h.actor.getSnapshot().context.lastError).toBe('attempt 1 refused');
    expect(h.live.heartbeats).toBe(0);
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const delay = h.actor.getSnapshot().context.retryInMs;
      delays.push(delay);
      h.clock.increment(delay - 1);
      expect(h.actor.getSnapshot().value).toBe('backingOff');
      h.clock.increment(1);
      await settle();
    }
    expect(delays).toEqual([1000, 2000, 4000]);
    expect(h.actor.getSnapshot().value).toBe('online');
    expect(h.actor.getSnapshot().context.attempt).toBe(0);
  });

  it('replaces the heartbeat loop on reconnection: never two loops at once', async () => {
    const h = harness(['ok', 'ok', 'ok']);
    await settle();
    for (let i = 0; i < 2; i++) {
      h.lose('transport close');
      expect(h.actor.getSnapshot().value).toBe('backingOff');
      expect(h.live).toMatchObject({ sessions: 0, heartbeats: 0 });
      h.clock.increment(h.actor.getSnapshot().context.retryInMs);
      await settle();
      expect(h.actor.getSnapshot().value).toBe('online');
    }
    expect(h.live.maxHeartbeats).toBe(1);
    expect(h.attempts()).toBe(3);
  });

  it('stops for good on STOP and releases the session', async () => {
    const h = harness(['ok']);
    await settle();
    h.actor.send({ type: 'STOP' });
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.live).toMatchObject({ sessions: 0, heartbeats: 0 });
  });
});

describe('reconnect delay', () => {
  it('doubles from 1 s and caps at 30 s', () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((a) => reconnectDelayMs(a, mid))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
  });

  it('spreads by at most ±30 %', () => {
    expect(reconnectDelayMs(3, () => 0)).toBe(5600);
    expect(reconnectDelayMs(3, () => 0.999999)).toBe(10400);
    expect(reconnectDelayMs(10, () => 0.999999)).toBe(39000);
  });
});

import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import {
  type CloseReason,
  SESSION_IDLE_TIMEOUT_MS,
  type SessionEvent,
  sessionMachine,
} from '../../src/machines/debug/session.machine.js';

/**
 * The debug-session machine walked as a graph (every state reached by the shortest path), and run under a simulated
 * clock: every way in ends in `closed` through `closing`, with a reason, and `closed` is announced exactly once.
 */
const input = { sessionId: 's1', vplc: 'plc1' };

const EVENTS = [
  { type: 'xstate.done.actor.answer', output: 'v=0' },
  { type: 'xstate.error.actor.answer', error: new Error('bad sdp') },
  { type: 'peer.connected' },
  { type: 'peer.failed' },
  { type: 'peer.closed' },
  { type: 'activity' },
  { type: 'CLOSE', reason: 'client_requested' },
  { type: 'vplc.gone', reason: 'vplc_deleted' },
  { type: 'xstate.done.actor.hangUp' },
] as const;

function dotted(value: unknown): string {
  if (typeof value === 'string') return value;
  const [k, v] = Object.entries(value as Record<string, unknown>)[0]!;
  return `${k}.${dotted(v)}`;
}

describe('debug session machine', () => {
  it('reaches every state, and closed only through closing', () => {
    const paths = getShortestPaths(sessionMachine, {
      input,
      events: EVENTS as unknown as SessionEvent[],
      serializeState: (s) => `${dotted(s.value)}|${s.context.reason}`,
    });
    const states = new Set(paths.map((p) => dotted(p.state.value)));
    expect([...states].sort()).toEqual(
      ['closed', 'closing', 'connected', 'negotiating.answering', 'negotiating.connecting'].sort(),
    );
    for (const path of paths) {
      const seen = path.steps.map((s) => dotted(s.state.value));
      const closedAt = seen.indexOf('closed');
      if (closedAt !== -1) expect(seen[closedAt - 1]).toBe('closing');
      if (dotted(path.state.value) === 'closed' || dotted(path.state.value) === 'closing') {
        expect(path.state.context.reason).not.toBeNull();
      }
    }
  });

  function run(answer: () => Promise<string>) {
    const clock = new SimulatedClock();
    const hangUps: CloseReason[] = [];
    const closed: CloseReason[] = [];
    const machine = sessionMachine.provide({
      actors: {
        answer: fromPromise(answer),
        hangUp: fromPromise(async ({ input: i }: { input: { reason: CloseReason } }) => {
          hangUps.push(i.reason);
        }),
      },
    });
    const actor = createActor(machine, { input, clock });
    actor.on('closed', (e) => closed.push(e.reason));
    actor.start();
    return { actor, clock, hangUps, closed };
  }
  const settle = () => new Promise((r) => setTimeout(r, 0));

  it('times out after 300 s without activity, and activity restarts the timer', async () => {
    const { actor, clock, hangUps, closed } = run(async () => 'v=0');
    await settle();
    actor.send({ type: 'peer.connected' });
    expect(actor.getSnapshot().value).toBe('connected');
    clock.increment(SESSION_IDLE_TIMEOUT_MS - 1);
    actor.send({ type: 'activity' });
    clock.increment(SESSION_IDLE_TIMEOUT_MS - 1);
    expect(actor.getSnapshot().value).toBe('connected');
    clock.increment(1);
    await settle();
    expect(actor.getSnapshot().value).toBe('closed');
    expect(hangUps).toEqual(['timeout']);
    expect(closed).toEqual(['timeout']);
  });

  it('closes with the reason of a failed negotiation, and announces closed once whatever follows', async () => {
    const { actor, closed, hangUps } = run(async () => {
      throw new Error('malformed');
    });
    await settle();
    await settle();
    expect(actor.getSnapshot().value).toBe('closed');
    expect(actor.getSnapshot().context.error).toBe('malformed');
    actor.send({ type: 'CLOSE', reason: 'client_requested' });
    actor.send({ type: 'vplc.gone', reason: 'vplc_deleted' });
    expect(hangUps).toEqual(['error']);
    expect(closed).toEqual(['error']);
  });

  it('ends when its vPLC goes, even while still negotiating', async () => {
    const { actor, closed } = run(() => new Promise<string>(() => {}));
    actor.send({ type: 'vplc.gone', reason: 'vplc_stopped' });
    await settle();
    expect(actor.getSnapshot().value).toBe('closed');
    expect(closed).toEqual(['vplc_stopped']);
  });
});

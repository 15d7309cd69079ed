import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { type CommandName, type Outcome, Supervisor, type VplcFact } from '../../src/actors/vplc/supervisor.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { type FakeCall, FakeOps, flush } from './support/fakeOps.js';
import { T0 } from './support/vplcGraph.js';

/**
 * The supervisor with three vPLCs under random interleavings of cloud commands, engine facts, completions
 * and failures of the operations in flight, the passing of time, and a `delete_orchestrator` beginning. After
 * every step the invariants hold; at the end, once everything in flight is allowed to finish, every accepted
 * request has been answered exactly once.
 */

const NAMES = ['plc-a', 'plc-b', 'plc-c'] as const;
const COMMANDS: CommandName[] = ['START', 'STOP', 'RESTART', 'DELETE'];
const RESTING = new Set(['running', 'stopped', 'failed']);

const spec = (name: string): VplcSpec => ({
  name,
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' }],
  serials: [],
});

type Action =
  | { kind: 'create'; vplc: number }
  | { kind: 'command'; vplc: number; cmd: CommandName }
  | { kind: 'resolve'; vplc: number }
  | { kind: 'reject'; vplc: number }
  | { kind: 'fact'; vplc: number; fact: 'died' | 'staleDied' | 'removed' | 'started' | 'network' | 'lease' }
  | { kind: 'tick'; ms: number }
  | { kind: 'selfDestruct' };

const vplc = fc.integer({ min: 0, max: NAMES.length - 1 });
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('create' as const), vplc }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('command' as const), vplc, cmd: fc.constantFrom(...COMMANDS) }),
  },
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('resolve' as const), vplc }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reject' as const), vplc }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('fact' as const),
      vplc,
      fact: fc.constantFrom('died', 'staleDied', 'removed', 'started', 'network', 'lease'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 20 * 60_000 }) }),
  },
);
/** In half the runs `delete_orchestrator` begins at some step (and the rest of the run happens while it runs). */
const selfDestructAt = fc.option(fc.nat({ max: 119 }), { freq: 2 });

function outputFor(call: FakeCall, now: number): unknown {
  switch (call.op) {
    case 'createContainer':
      return { containerId: `id-${call.vplc}` };
    case 'startContainer':
      return { containerId: `id-${call.vplc}`, startedAt: new Date(now).toISOString() };
    case 'attachAgent':
      return undefined;
    case 'moveNetworks':
      return { conflicts: [] };
    default:
      return undefined;
  }
}

function factFor(kind: Extract<Action, { kind: 'fact' }>['fact'], name: string, now: number): VplcFact {
  switch (kind) {
    case 'died':
      return { type: 'container.died', exitCode: 1, oomKilled: false, at: new Date(now).toISOString() };
    case 'staleDied':
      return { type: 'container.died', exitCode: 0, oomKilled: false, at: new Date(now - 3_600_000).toISOString() };
    case 'removed':
      return { type: 'container.removed' };
    case 'started':
      return { type: 'container.started', containerId: `id-${name}`, startedAt: new Date(now).toISOString() };
    case 'network':
      return { type: 'network.changed', parentInterface: 'eth0' };
    case 'lease':
      return { type: 'dhcp.lease', vnicName: 'lan', ip: '192.168.1.50', gateway: null };
  }
}

class World {
  readonly fake = new FakeOps();
  readonly clock = new SimulatedClock();
  readonly sup: Supervisor;
  /** Settlements per accepted request: must end at exactly 1. */
  readonly answers: Array<{ request: string; settled: Outcome[] }> = [];
  requests = 0;
  replies = 0;
  selfDestructSeen = false;

  constructor() {
    this.clock.set(T0);
    this.sup = new Supervisor({
      ops: this.fake.ops,
      log: pino({ level: 'silent' }),
      restartBudget: { max: 3, windowMs: 10 * 60_000 },
      random: () => 0.5,
      clock: this.clock,
    });
    this.sup.reconciled();
  }

  track(request: string, admission: ReturnType<Supervisor['command']>): void {
    this.replies++;
    if (!admission.accepted) {
      expect(admission.reason.length).toBeGreaterThan(10);
      return;
    }
    const entry = { request, settled: [] as Outcome[] };
    this.answers.push(entry);
    void admission.done.then((o) => entry.settled.push(o));
  }

  async do(a: Action): Promise<void> {
    const now = this.clock.now();
    const selfDestructing = this.sup.mode === 'selfDestructing';
    switch (a.kind) {
      case 'create': {
        this.requests++;
        const admission = this.sup.create(spec(NAMES[a.vplc]!));
        this.track(`create ${NAMES[a.vplc]}`, admission);
        if (selfDestructing) expect(admission.accepted, 'create accepted while self-destructing').toBe(false);
        break;
      }
      case 'command': {
        const name = NAMES[a.vplc]!;
        const before = this.sup.status(name);
        this.requests++;
        const admission = this.sup.command(name, a.cmd);
        this.track(`${a.cmd} ${name}`, admission);
        if (!admission.accepted) expect(this.sup.status(name), `refused ${a.cmd} changed ${name}`).toEqual(before);
        if (selfDestructing && a.cmd !== 'DELETE') {
          expect(admission.accepted, `${a.cmd} accepted while self-destructing`).toBe(false);
        }
        break;
      }
      case 'selfDestruct':
        this.sup.beginSelfDestruct();
        break;
      case 'resolve':
      case 'reject': {
        const call = this.fake.pending(NAMES[a.vplc]).at(0);
        if (!call) return;
        if (a.kind === 'resolve') call.resolve(outputFor(call, now));
        else call.reject(new Error(`${call.op} failed (simulated)`));
        break;
      }
      case 'fact':
        this.sup.notify(NAMES[a.vplc]!, factFor(a.fact, NAMES[a.vplc]!, now));
        break;
      case 'tick':
        this.clock.increment(a.ms);
        break;
    }
    await flush();
  }

  checkInvariants(): void {
    // Once self-destructing, the agent never serves again.
    if (this.selfDestructSeen) expect(this.sup.mode).toBe('selfDestructing');
    this.selfDestructSeen = this.sup.mode === 'selfDestructing';
    for (const name of NAMES) {
      const inFlight = this.fake.pending(name);
      const status = this.sup.status(name);
      expect(inFlight.length, `${name}: operations in flight ${inFlight.map((c) => c.op)}`).toBeLessThanOrEqual(1);
      if (!status) {
        expect(inFlight, `${name} is gone but has calls in flight`).toEqual([]);
        continue;
      }
      if (RESTING.has(status.state) || status.state === 'restarting.backoff') {
        expect(inFlight, `${name} rests in ${status.state} with calls in flight`).toEqual([]);
      } else if (status.state !== 'restarting.backoff') {
        expect(inFlight.length, `${name} in ${status.state} waits for nothing`).toBe(1);
      }
      if (['running', 'adopting', 'reattaching'].includes(status.phase)) expect(status.containerId).not.toBeNull();
      if (status.phase === 'failed') expect(status.failure?.reason).toBeTruthy();
      else expect(status.failure).toBeNull();
    }
  }

  /** Start from three running vPLCs, the usual situation on a plant host. */
  async begin(): Promise<void> {
    for (const name of NAMES) {
      this.requests++;
      this.track(`create ${name}`, this.sup.create(spec(name)));
    }
    await this.drain();
  }

  /** Let everything in flight succeed and every timer fire, until all vPLCs rest. */
  async drain(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const call = this.fake.pending().at(0);
      if (call) call.resolve(outputFor(call, this.clock.now()));
      else this.clock.increment(6 * 60_000);
      await flush();
      this.checkInvariants();
      if (!this.fake.pending().length && this.sup.list().every((s) => RESTING.has(s.state))) return;
    }
    throw new Error(`did not come to rest: ${JSON.stringify(this.sup.list().map((s) => s.state))}`);
  }
}

describe('supervisor with three vPLCs under random interleavings', () => {
  it('keeps every invariant and answers every request exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 120 }), selfDestructAt, async (steps, at) => {
        const world = new World();
        const actions: Action[] = at === null ? steps : steps.toSpliced(at, 0, { kind: 'selfDestruct' });
        try {
          await world.begin();
          for (const a of actions) {
            await world.do(a);
            world.checkInvariants();
          }
          await world.drain();
          await flush();
          expect(world.replies).toBe(world.requests);
          for (const answer of world.answers) {
            expect(answer.settled.length, `${answer.request} settled ${answer.settled.length} times`).toBe(1);
          }
        } finally {
          world.sup.stop();
        }
      }),
      { numRuns: 300 },
    );
  });
});

import pino from 'pino';
import { createActor, createMachine } from 'xstate';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import type { VplcFact } from '../../src/model/facts.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps } from '../../test/model/support/fakeOps.js';
import { collectGarbage, defineBenchmark, median, round, target } from './harness.js';

const ACTORS = 1_000;
const MESSAGES = 200_000;
const RUNS = 5;

const spec = (name: string): VplcSpec => ({
  name,
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.10' }],
  serials: [],
});

/** Settles every fake call in flight (adoption re-attaches each runtime) until the vPLCs are at rest. */
async function settleAll(fake: FakeOps): Promise<void> {
  for (let pending = fake.pending(); pending.length > 0; pending = fake.pending()) {
    for (const call of pending) call.resolve();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Messages per second through the supervisor: each a fact for one of 1,000 running vPLC actors, round robin. */
async function throughSupervisor(): Promise<number> {
  const fake = new FakeOps();
  const sup = new Supervisor({
    ops: fake.ops,
    log: pino({ level: 'silent' }),
    restartBudget: { max: 5, windowMs: 600_000 },
  });
  const names: string[] = [];
  for (let i = 0; i < ACTORS; i++) {
    const name = `plc-${i}`;
    names.push(name);
    sup.adopt(spec(name), { state: 'running', containerId: `c-${i}`, startedAt: '2026-01-01T00:00:00Z' });
  }
  sup.reconciled();
  await settleAll(fake);
  if (sup.list().some((s) => s.state !== 'running')) throw new Error('an adopted vPLC is not running');
  // A running vPLC hears that its container runs (what the engine's event stream repeats after a resync): routed
  // all the way to the actor, which stays running.
  const facts: VplcFact[] = names.map((_, i) => ({
    type: 'container.started',
    containerId: `c-${i}`,
    startedAt: '2026-01-01T00:00:00Z',
  }));
  const started = process.hrtime.bigint();
  for (let m = 0; m < MESSAGES; m++) sup.notify(names[m % ACTORS]!, facts[m % ACTORS]!);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (sup.list().some((s) => s.state !== 'running')) throw new Error('a vPLC left running while routing');
  if (fake.pending().length > 0) throw new Error('a repeated container.started made a vPLC call the engine');
  sup.stop();
  return MESSAGES / seconds;
}

/** The floor: the same events sent straight to 1,000 minimal XState actors held in a Map. */
function straightToActors(): number {
  const machine = createMachine({ initial: 'running', states: { running: { on: { 'vplc.fact': {} } } } });
  const actors = new Map<string, ReturnType<typeof createActor<typeof machine>>>();
  for (let i = 0; i < ACTORS; i++) actors.set(`plc-${i}`, createActor(machine).start());
  const names = [...actors.keys()];
  const events = names.map((name, i) => ({
    type: 'vplc.fact' as const,
    name,
    fact: { type: 'container.started', containerId: `c-${i}`, startedAt: '2026-01-01T00:00:00Z' },
  }));
  const started = process.hrtime.bigint();
  for (let m = 0; m < MESSAGES; m++) actors.get(names[m % ACTORS]!)!.send(events[m % ACTORS]!);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  for (const a of actors.values()) a.stop();
  return MESSAGES / seconds;
}

/** Target 6: supervisor routing across 1,000 vPLC actors on fake ops, against XState actors reached directly. */
export default defineBenchmark({
  name: 'routing',
  description: 'supervisor routing: facts/s to 1,000 running vPLC actors (fake ops) vs the same events sent directly',
  async run() {
    await throughSupervisor();
    straightToActors();
    const sup: number[] = [];
    const floor: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      collectGarbage();
      sup.push(await throughSupervisor());
      collectGarbage();
      floor.push(straightToActors());
    }
    const figure = Math.round(median(sup));
    const baseline = Math.round(median(floor));
    return {
      supervisorPerSecond: sup.map((x) => Math.round(x)),
      directPerSecond: floor.map((x) => Math.round(x)),
      targets: [
        target({
          id: 'target-6-routing',
          target: 'supervisor routing >= 100,000 messages/s across 1,000 actors (fake engine)',
          figure,
          unit: 'messages/s (median of 5 runs of 200,000)',
          baseline: { what: 'same events sent directly to 1,000 minimal XState actors', value: baseline },
          ratio: round(figure / baseline, 2),
          met: figure >= 100_000,
        }),
      ],
    };
  },
});

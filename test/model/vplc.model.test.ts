import { type ActorLogic, type EventObject, transition } from 'xstate';
import { TestModel } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { type VplcInitial, type VplcInput, type VplcSnapshot, vplcMachine } from '../../src/machines/vplc/machine.js';
import { boundedSimplePaths } from './support/boundedSimplePaths.js';
import { modelInput, ownEvents, serializeVplc } from './support/vplcGraph.js';
import { VplcHarness } from './support/vplcHarness.js';

/**
 * Model-based tests of the vPLC lifecycle: the machine's own graph gives the paths; each path is replayed
 * against a real actor with fake operations held open until the path settles them and a simulated clock,
 * and the invariants are checked after every step.
 *
 * Shortest paths: one per distinct (state, decision context) vertex — unbounded. They reach every vertex
 * but not every edge, so each transition is also replayed once: shortest path to its source, then it.
 * Simple paths: over the full decision context the graph has about 620 vertices and its simple paths do not finish
 * enumerating (facts alone give tens of thousands within seconds, with every event minutes without end).
 * So simple paths are bounded by an abstraction: a path never enters the same state value twice, whatever
 * the context (boundedSimplePaths walks real snapshots, so every path is one the machine can take). They
 * start from a new runtime (`creating`); paths that are prefixes of longer ones are dropped.
 */

const INITIALS: VplcInitial[] = ['creating', 'running', 'stopped', 'missing', 'failed'];

type Logic = ActorLogic<VplcSnapshot, EventObject, VplcInput>;
interface Path {
  description: string;
  steps: Array<{ event: EventObject; state: unknown }>;
}

function model(initial: VplcInitial, serializeState: (s: VplcSnapshot) => string) {
  return new TestModel(vplcMachine as unknown as Logic, {
    input: modelInput(initial),
    events: ownEvents as never,
    serializeState: serializeState as never,
  });
}

const COMMAND_TYPES = new Set(['START', 'STOP', 'RESTART', 'DELETE']);

async function replay(initial: VplcInitial, path: Path): Promise<void> {
  const h = VplcHarness.start(modelInput(initial));
  let begun = initial === 'creating' ? 1 : 0;
  for (const [i, step] of path.steps.entries()) {
    // A command for the operation already in progress joins it (as the supervisor does) instead of beginning one.
    const op = step.event.type.toLowerCase();
    if (
      COMMAND_TYPES.has(step.event.type) &&
      h.snapshot.can(step.event as never) &&
      h.snapshot.context.operation !== op
    ) {
      begun++;
    }
    await h.apply(step.event as never);
    const where = `after step ${i} (${step.event.type}) of ${path.description}`;
    expect(serializeVplc(h.snapshot), where).toBe(serializeVplc(step.state as VplcSnapshot));
    expect(h.violations(), where).toEqual([]);
    expect(h.checkRefusals(), where).toEqual([]);
    // Every accepted operation ends exactly once: the ones not in progress any more have ended.
    const inProgress = h.snapshot.context.operation === null ? 0 : 1;
    expect(h.ended.length + inProgress, `${where}: operations begun ${begun}, ended ${JSON.stringify(h.ended)}`).toBe(
      begun,
    );
  }
}

describe('vPLC machine: every shortest path', () => {
  for (const initial of INITIALS) {
    const paths = model(initial, serializeVplc).getShortestPaths({ allowDuplicatePaths: true });
    it(`replays all ${paths.length} shortest paths from ${initial} and keeps every invariant`, async () => {
      for (const path of paths) await replay(initial, path as Path);
    });
  }
});

/** Each transition once: the shortest path to its source state, then that transition. */
function everyTransition(initial: VplcInitial): Path[] {
  const paths = model(initial, serializeVplc).getShortestPaths({ allowDuplicatePaths: true });
  return paths.flatMap((p) => {
    const last = p.state as VplcSnapshot;
    if (last.status !== 'active') return [];
    return ownEvents(last).map((event) => ({
      description: `${p.description} → ${event.type}`,
      steps: [...p.steps, { event, state: transition(vplcMachine, last, event)[0] }],
    }));
  });
}

describe('vPLC machine: every transition', () => {
  for (const initial of ['creating', 'running'] as const) {
    const paths = everyTransition(initial);
    it(`replays all ${paths.length} transitions reachable from ${initial} and keeps every invariant`, async () => {
      for (const path of paths) await replay(initial, path);
    });
  }
});

describe('vPLC machine: every simple path over state values', () => {
  const byValue = (s: VplcSnapshot) => JSON.stringify(s.value);
  const paths = model('creating', serializeVplc).getPaths(
    () => boundedSimplePaths(vplcMachine, modelInput('creating'), ownEvents, byValue) as never,
  );
  it(`replays all ${paths.length} simple paths from creating and keeps every invariant`, async () => {
    for (const path of paths) await replay('creating', path as Path);
  });
});

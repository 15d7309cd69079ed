import { type Actor, createActor, SimulatedClock } from 'xstate';
import type { RefusalSubject, VplcCommandName } from '../../../src/machines/vplc/messages.js';
import { refusal } from '../../../src/machines/vplc/messages.js';
import {
  type OperationEnded,
  provideVplcOps,
  type VplcEvent,
  type VplcInput,
  type VplcMachine,
  type VplcSnapshot,
} from '../../../src/machines/vplc/machine.js';
import { FakeOps, flush } from './fakeOps.js';
import { T0 } from './vplcGraph.js';

export const COMMANDS: VplcCommandName[] = ['START', 'STOP', 'RESTART', 'DELETE'];

export function phaseOf(snapshot: VplcSnapshot): string {
  return typeof snapshot.value === 'string' ? snapshot.value : Object.keys(snapshot.value)[0]!;
}

export function stepOf(snapshot: VplcSnapshot): string | null {
  if (typeof snapshot.value === 'string') return null;
  const inner = Object.values(snapshot.value)[0];
  return typeof inner === 'string' ? inner : null;
}

/** What a refusal says about this vPLC, read from its snapshot the way the supervisor reads it. */
export function refusalSubject(snapshot: VplcSnapshot): RefusalSubject {
  return {
    name: snapshot.context.spec.name,
    phase: phaseOf(snapshot),
    step: stepOf(snapshot),
    deleteRequested: snapshot.context.deleteRequested,
    failureReason: snapshot.context.failure?.reason ?? null,
  };
}

/** The invariants every reachable snapshot must satisfy; returns what is violated (empty when fine). */
export function vplcViolations(snapshot: VplcSnapshot, fake: FakeOps): string[] {
  const out: string[] = [];
  const name = snapshot.context.spec.name;
  const inFlight = fake.pending(name).map((c) => c.op);
  const phase = phaseOf(snapshot);
  if (inFlight.length > 1) out.push(`${inFlight.length} operations in flight at once: ${inFlight.join(', ')}`);
  const invoked = Object.keys(snapshot.children).sort();
  if (JSON.stringify([...inFlight].sort()) !== JSON.stringify(invoked)) {
    out.push(`calls in flight [${inFlight}] differ from the invoked actors of the state [${invoked}]`);
  }
  if (['running', 'adopting', 'reattaching'].includes(phase) && snapshot.context.containerId === null) {
    out.push(`${phase} without a container id`);
  }
  if (phase === 'failed' && !snapshot.context.failure?.reason) out.push('failed without a reason');
  // Nothing remembered mid-step may be forgotten: once at rest, every noted DELETE, crash and removal was acted on.
  const resting = ['running', 'stopped', 'failed', 'deleted'].includes(phase) || inFlight.length === 0;
  if (resting) {
    const c = snapshot.context;
    if (c.pendingExit !== null) out.push(`${JSON.stringify(snapshot.value)} at rest with an unhandled crash`);
    if (c.deleteRequested) out.push(`${JSON.stringify(snapshot.value)} at rest with an unhandled DELETE`);
    if (c.containerGone) out.push(`${JSON.stringify(snapshot.value)} at rest with an unhandled removal`);
  }
  // A network change noted while the vPLC ran something else is acted on as soon as it runs.
  if (phase === 'running' && snapshot.context.networkChanges.length > 0) {
    out.push(`running with unhandled network changes of ${snapshot.context.networkChanges.join(', ')}`);
  }
  if (phase === 'reattaching' && snapshot.context.moving.length === 0) out.push('reattaching with nothing to move');
  if (snapshot.context.networkWarning && !snapshot.context.lastError) out.push('network warning without a sentence');
  if (phase === 'deleted') {
    if (snapshot.status !== 'done') out.push('deleted is not final');
    if (inFlight.length > 0) out.push(`deleted with ${inFlight.join(', ')} in flight`);
  }
  if (snapshot.status === 'error') out.push(`actor crashed: ${String(snapshot.error)}`);
  return out;
}

/**
 * One real vPLC actor driven step by step: operations are fake calls the harness settles, time is a
 * simulated clock, and facts and commands are sent as they are in production.
 */
const GOAL: Record<string, string[]> = {
  // `running` may hand over at once to `reattaching` when a network change arrived meanwhile.
  create: ['running', 'reattaching'],
  start: ['running', 'reattaching'],
  restart: ['running', 'reattaching'],
  stop: ['stopped'],
  delete: ['deleted'],
};

export class VplcHarness {
  readonly ended: OperationEnded[] = [];
  /** Operations reported successful in a state that is not their goal. */
  readonly falseSuccesses: string[] = [];
  actorError: unknown = null;

  private constructor(
    readonly fake: FakeOps,
    readonly clock: SimulatedClock,
    readonly actor: Actor<VplcMachine>,
  ) {}

  /** Start a vPLC actor; `provide` may swap implementations (e.g. a deliberately broken guard). */
  static start(input: VplcInput, provide: (fake: FakeOps) => VplcMachine = (f) => provideVplcOps(f.ops)): VplcHarness {
    const fake = new FakeOps();
    const clock = new SimulatedClock();
    clock.set(T0);
    const actor = createActor(provide(fake), { input: { ...input, now: () => clock.now() }, clock });
    const h = new VplcHarness(fake, clock, actor);
    actor.on('operation.ended', (e) => {
      h.ended.push(e);
      const phase = phaseOf(actor.getSnapshot());
      if (e.success && !GOAL[e.operation]?.includes(phase)) {
        h.falseSuccesses.push(`${e.operation} reported done in ${phase}`);
      }
    });
    actor.subscribe({ error: (err) => (h.actorError = err) });
    actor.start();
    return h;
  }

  get snapshot(): VplcSnapshot {
    return this.actor.getSnapshot();
  }

  /** Make `event` happen the way it happens in production. */
  async apply(event: VplcEvent | { type: string; output?: unknown; error?: unknown }): Promise<void> {
    const done = /^xstate\.done\.actor\.(.+)$/.exec(event.type);
    const failed = /^xstate\.error\.actor\.(.+)$/.exec(event.type);
    if (done) {
      this.fake.only(done[1] as never).resolve((event as { output?: unknown }).output);
      await flush();
    } else if (failed) {
      this.fake.only(failed[1] as never).reject((event as { error?: Error }).error ?? new Error(`${failed[1]} failed`));
      await flush();
    } else if (event.type.startsWith('xstate.after.')) {
      const due = this.snapshot.context.restartAt;
      if (due === null) throw new Error('no restart is scheduled');
      this.clock.increment(Math.max(0, due - this.clock.now()));
      await flush();
    } else if (event.type === 'xstate.init') {
      await flush();
    } else {
      this.actor.send(event as VplcEvent);
      await flush();
    }
  }

  /** Every command the state cannot take is refused with a sentence and changes nothing. */
  checkRefusals(): string[] {
    const out: string[] = [];
    for (const cmd of COMMANDS) {
      const before = this.snapshot;
      if (before.status !== 'active' || before.can({ type: cmd })) continue;
      const text = refusal(cmd, refusalSubject(before));
      if (!text.includes(before.context.spec.name)) out.push(`refusal of ${cmd} does not name the vPLC: ${text}`);
      const endedBefore = this.ended.length;
      const callsBefore = this.fake.calls.length;
      this.actor.send({ type: cmd });
      const after = this.snapshot;
      if (JSON.stringify(after.value) !== JSON.stringify(before.value)) {
        out.push(`refused ${cmd} moved ${JSON.stringify(before.value)} to ${JSON.stringify(after.value)}`);
      }
      for (const key of Object.keys(before.context) as Array<keyof typeof before.context>) {
        if (
          before.context[key] !== after.context[key] &&
          JSON.stringify(before.context[key]) !== JSON.stringify(after.context[key])
        ) {
          out.push(`refused ${cmd} changed context.${key}`);
        }
      }
      if (this.ended.length !== endedBefore) out.push(`refused ${cmd} ended an operation`);
      if (this.fake.calls.length !== callsBefore) out.push(`refused ${cmd} started an operation`);
    }
    return out;
  }

  violations(): string[] {
    const out = vplcViolations(this.snapshot, this.fake);
    if (this.actorError) out.push(`actor error: ${String(this.actorError)}`);
    out.push(...this.falseSuccesses);
    return out;
  }
}

import type { Logger } from 'pino';
import {
  type Actor,
  type ActorOptions,
  createActor,
  fromPromise,
  type InspectionEvent,
  type Subscription,
} from 'xstate';
import {
  admitCommand,
  admitCreate,
  type Decision,
  phaseOf,
  type Requester,
  type SupervisorMode,
  startsWork,
  stepOf,
  whyNotAdopt,
} from '../../machines/supervisor/admission.js';
import { vplcOf } from '../../machines/supervisor/children.js';
import { type SupervisorMachine, supervisorMachine, supervisorModeOf } from '../../machines/supervisor/machine.js';
import type { ObservedRuntime, SupervisorEvent } from '../../machines/supervisor/types.js';
import type { OperationEnded, VplcActor, VplcSnapshot } from '../../machines/vplc/machine.js';
import { provideVplcOps } from '../../machines/vplc/machine.js';
import type { VplcCommandName, VplcOperation } from '../../machines/vplc/messages.js';
import { errorText } from '../../machines/vplc/messages.js';
import type { VplcOps } from '../../machines/vplc/ports.js';
import type { VplcFact } from '../../model/facts.js';
import type { VplcSpec } from '../../model/vplc.js';
import { restartsInWindow } from '../../machines/vplc/restartPolicy.js';

/**
 * The running system's root: one supervisor actor whose children are the vPLC actors. Topic handlers and
 * the engine/sidecar event pumps talk to it through this class in domain terms; the class turns the
 * admission decisions (asked before the request is sent, from the vPLC's snapshot) into synchronous answers
 * and the vPLCs' `operation.ended` events into `done` promises, and keeps per-vPLC timestamps for status and
 * persistence.
 */

export interface SupervisorOptions {
  ops: VplcOps;
  log: Logger;
  restartBudget: { max: number; windowMs: number };
  /** `--max-vplcs`: creates from the cloud beyond this many supervised vPLCs are refused. Default 64. */
  maxVplcs?: number;
  random?: () => number;
  inspect?: (event: InspectionEvent) => void;
  /** Timer source for every actor (backoff delays); tests pass XState's SimulatedClock. Default: real timers. */
  clock?: Clock;
  /** Wall clock in epoch ms for timestamps and restart windows. Default: `clock.now()` if given, else Date.now. */
  now?: () => number;
  /** The root actor failed (a bug): every vPLC's supervision is gone, so the agent must exit and start again. */
  onFatal?: (what: string, error: unknown) => void;
}

export type CommandName = VplcCommandName;
export type Outcome = { success: true } | { success: false; error: string };
export type Admission = { accepted: true; done: Promise<Outcome> } | { accepted: false; reason: string };

export interface VplcStatus {
  name: string;
  /** Dotted state, e.g. `creating.networks` or `running`. */
  state: string;
  /** Top-level state. */
  phase: string;
  step: string | null;
  desired: 'running' | 'stopped';
  /** The operation in progress; in `failed`, the operation that failed (null when the watchdog gave up). */
  operation: VplcOperation | null;
  operationStartedAt: string | null;
  /** In `failed`: the step of the operation that failed (e.g. `networks` of a create), null when none was running. */
  failedStep: string | null;
  updatedAt: string;
  containerId: string | null;
  lastError: string | null;
  failure: { reason: string; exitCode: number | null; oomKilled: boolean; at: string } | null;
  restartCount: number;
  startedAt: string | null;
  spec: VplcSpec;
}

export type { VplcFact } from '../../model/facts.js';
export type { Requester, SupervisorMode } from '../../machines/supervisor/admission.js';

/** XState's timer source (setTimeout/clearTimeout), e.g. its SimulatedClock, which also tells the time. */
export type Clock = NonNullable<ActorOptions<SupervisorMachine>['clock']> & { now?: () => number };

interface Waiter {
  operation: VplcOperation;
  resolve: (outcome: Outcome) => void;
}

interface Watched {
  ref: VplcActor;
  subscriptions: Subscription[];
  log: Logger;
  lastValue: string;
  lastContext: VplcSnapshot['context'] | null;
  updatedAt: string;
  operationStartedAt: string | null;
  /** The last step of an operation seen (rollback steps aside), kept for the status of a failure. */
  operationStep: string | null;
}

export function dottedState(value: unknown): string {
  if (typeof value === 'string') return value;
  const [key, inner] = Object.entries(value as Record<string, unknown>)[0]!;
  return `${key}.${dottedState(inner)}`;
}

export class Supervisor {
  private readonly root: Actor<SupervisorMachine>;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly watched = new Map<string, Watched>();
  private readonly listeners = new Set<(status: VplcStatus) => void>();
  private stopped = false;
  private selfDestructSteps: ((signal: AbortSignal) => Promise<void>) | undefined;

  constructor(opts: SupervisorOptions) {
    this.log = opts.log;
    const clockNow = opts.clock?.now?.bind(opts.clock);
    this.now = opts.now ?? clockNow ?? Date.now;
    const input = {
      vplc: provideVplcOps(opts.ops),
      budget: opts.restartBudget,
      now: this.now,
      ...(opts.maxVplcs !== undefined ? { maxVplcs: opts.maxVplcs } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    };
    // The self-destruct steps are handed over when delete_orchestrator is accepted (beginSelfDestruct): they need
    // the supervisor themselves, so they cannot exist before it.
    const machine = supervisorMachine.provide({
      actors: {
        selfDestructSequence: fromPromise<void>(({ signal }) => {
          const steps = this.selfDestructSteps;
          return steps ? steps(signal) : Promise.reject(new Error('self-destruct began without its steps'));
        }),
      },
    });
    this.root = createActor(machine, {
      input,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.inspect ? { inspect: opts.inspect } : {}),
    });
    this.root.on('vplc.spawned', (e) => this.watch(e.name, e.replacing));
    this.root.on('vplc.removed', (e) => this.unwatch(e.name));
    // An error in a root actor with no error observer would crash the process.
    this.root.subscribe({
      error: (err) => {
        this.log.fatal({ err }, 'vPLC supervisor stopped on an internal error');
        opts.onFatal?.('the vPLC supervisor', err);
      },
    });
    this.root.start();
  }

  /**
   * What the agent as a whole is doing: `reconciling` (boot; only reconciliation's own requests are taken),
   * `serving`, `selfDestructing` (only deletes are taken) or `stopped`.
   */
  get mode(): SupervisorMode {
    return supervisorModeOf(this.root.getSnapshot().value);
  }

  /** Create a new runtime. `done` settles when it runs (or when creating it failed). */
  create(spec: VplcSpec, by: Requester = 'cloud'): Admission {
    const asking = { mode: this.mode, by };
    const { context } = this.root.getSnapshot();
    const capacity = { supervised: context.vplcs.size, max: context.maxVplcs };
    return this.request(spec.name, admitCreate(asking, spec.name, this.snapshotOf(spec.name), capacity), {
      type: 'vplc.create',
      spec,
      by,
    });
  }

  /** START, STOP, RESTART or DELETE an existing runtime. A refusal leaves it as it was. */
  command(name: string, cmd: CommandName, by: Requester = 'cloud'): Admission {
    const asking = { mode: this.mode, by };
    return this.request(name, admitCommand(asking, name, cmd, this.snapshotOf(name)), {
      type: 'vplc.command',
      name,
      command: cmd,
      by,
    });
  }

  /** Boot reconciliation: take over a runtime in the state Docker shows (only while reconciling). */
  adopt(spec: VplcSpec, observed: ObservedRuntime): void {
    const whyNot = whyNotAdopt(this.mode, this.snapshotOf(spec.name));
    if (whyNot !== null) {
      this.log.warn({ vplc: spec.name, mode: this.mode }, whyNot);
      return;
    }
    this.root.send({ type: 'vplc.adopt', spec, observed });
  }

  /** Boot reconciliation has given every runtime it found an actor: take the cloud's requests from now on. */
  reconciled(): void {
    this.root.send({ type: 'reconciliation.finished' });
    this.log.info({ mode: this.mode }, 'boot reconciliation finished');
  }

  /**
   * `delete_orchestrator` was accepted: refuse creates (and START/STOP/RESTART), carry out the deletes, and run
   * `steps` as the supervisor's `selfDestructing.working` state (again after a failed run). `signal` aborts when
   * the agent shuts down.
   */
  beginSelfDestruct(steps?: (signal: AbortSignal) => Promise<void>): void {
    this.selfDestructSteps = steps;
    this.root.send({ type: 'selfDestruct.began' });
    this.log.warn({ mode: this.mode }, 'self-destruct began: only deletes are taken from now on');
  }

  /** An engine or sidecar fact about one runtime. */
  notify(name: string, fact: VplcFact): void {
    const w = this.watched.get(name);
    if (!w) {
      this.log.debug({ vplc: name, fact: fact.type }, 'fact about a runtime this agent does not manage ignored');
      return;
    }
    // Straight to the child the supervisor spawned and still owns (`watched` follows every spawn, replacement and
    // removal): a fact changes nothing in the supervisor itself, and the extra hop through its machine halved the
    // rate at which a fleet's facts are delivered.
    w.ref.send(fact);
  }

  status(name: string): VplcStatus | undefined {
    const w = this.watched.get(name);
    return w ? this.toStatus(name, w) : undefined;
  }

  list(): VplcStatus[] {
    return [...this.watched.keys()].sort().map((name) => this.status(name)!);
  }

  /** Called on every state or context change of any vPLC (for persistence and logs). */
  onChange(listener: (status: VplcStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Watchdog restarts the vPLC has left inside its budget window (0: the next crash sends it to failed), or
   * undefined for a name it does not supervise.
   */
  restartBudgetLeft(name: string): number | undefined {
    const w = this.watched.get(name);
    if (!w) return undefined;
    const { restarts, budget } = w.ref.getSnapshot().context;
    return Math.max(0, budget.max - 1 - restartsInWindow(restarts, this.now(), budget).length);
  }

  /** The live actors of this system, root first (the inspector lists them). */
  actorRefs(): Array<{ id: string; ref: Actor<SupervisorMachine> | VplcActor }> {
    return [
      { id: 'supervisor', ref: this.root },
      ...[...this.watched.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([, w]) => ({ id: w.ref.id, ref: w.ref })),
    ];
  }

  /** Dev tooling: every XState inspection event of the whole system. Nothing is produced while nobody listens. */
  inspect(observer: (event: InspectionEvent) => void): () => void {
    const sub = this.root.system.inspect(observer);
    return () => sub.unsubscribe();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const [name, waiters] of this.waiters) {
      for (const w of waiters) {
        w.resolve({
          success: false,
          error: `the agent is shutting down; the ${w.operation} of ${name} was interrupted`,
        });
      }
    }
    this.waiters.clear();
    for (const w of this.watched.values()) for (const s of w.subscriptions) s.unsubscribe();
    this.watched.clear();
    this.root.send({ type: 'agent.stopping' });
    this.root.stop();
  }

  private request(name: string, decision: Decision, event: SupervisorEvent): Admission {
    if (!decision.accepted) {
      this.log.info({ vplc: name, reason: decision.reason }, 'request refused');
      return { accepted: false, reason: decision.reason };
    }
    const { operation, joined } = decision;
    // Wait before sending: an operation can end while the request is being carried out (STOP during a backoff).
    const done = this.expectEnd(name, operation);
    // The machine's guard asks the same question of the same snapshot, so it carries out what was accepted here.
    // (A request from inside an onChange listener, while the supervisor still handles the event behind that
    // change, is queued by XState and judged again when its turn comes: a listener should not command.)
    if (startsWork(decision)) this.root.send(event);
    this.log.info({ vplc: name, operation, joined }, 'request accepted');
    return { accepted: true, done };
  }

  /** The vPLC's current snapshot, as the admission functions read it. */
  private snapshotOf(name: string): VplcSnapshot | undefined {
    return vplcOf(this.root.getSnapshot().context, name)?.getSnapshot();
  }

  private expectEnd(name: string, operation: VplcOperation): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const list = this.waiters.get(name) ?? [];
      list.push({ operation, resolve });
      this.waiters.set(name, list);
    });
  }

  private settle(name: string, operation: VplcOperation | null, outcome: Outcome): void {
    const list = this.waiters.get(name);
    if (!list) return;
    const keep = list.filter((w) => operation !== null && w.operation !== operation);
    for (const w of list) if (!keep.includes(w)) w.resolve(outcome);
    if (keep.length) this.waiters.set(name, keep);
    else this.waiters.delete(name);
  }

  private watch(name: string, replacing: string | null): void {
    const old = this.watched.get(name);
    if (old) for (const s of old.subscriptions) s.unsubscribe();
    const ref = vplcOf(this.root.getSnapshot().context, name);
    if (!ref) return;
    const log = this.log.child({ vplc: name });
    const w: Watched = {
      ref,
      subscriptions: [],
      log,
      lastValue: '',
      lastContext: null,
      updatedAt: new Date(this.now()).toISOString(),
      operationStartedAt: null,
      operationStep: null,
    };
    this.watched.set(name, w);
    if (replacing !== null) {
      log.error({ err: replacing }, 'vPLC lifecycle hit an internal error; replaced by one in failed');
      // Every operation the broken actor was carrying out ends here, as a failure with its reason.
      this.settle(name, null, { success: false, error: ref.getSnapshot().context.failure?.reason ?? replacing });
    }
    w.subscriptions.push(
      ref.subscribe({
        next: (snapshot) => this.observe(name, w, snapshot),
        // The supervisor replaces the actor (`vplc.spawned`); this observer only keeps the error from
        // being reported as unhandled.
        error: (err) => log.error({ err: errorText(err) }, 'vPLC actor failed'),
      }),
      ref.on('operation.ended', (e: OperationEnded) => {
        log.info({ operation: e.operation, success: e.success, error: e.error }, 'operation ended');
        this.settle(name, e.operation, e.success ? { success: true } : { success: false, error: e.error ?? 'failed' });
      }),
    );
    this.observe(name, w, ref.getSnapshot());
  }

  private unwatch(name: string): void {
    const w = this.watched.get(name);
    if (!w) return;
    for (const s of w.subscriptions) s.unsubscribe();
    this.watched.delete(name);
    this.settle(name, null, { success: false, error: `${name} was deleted` });
  }

  private observe(name: string, w: Watched, snapshot: VplcSnapshot): void {
    const value = dottedState(snapshot.value);
    if (value === w.lastValue && snapshot.context === w.lastContext) return;
    const now = new Date(this.now()).toISOString();
    const ctx = snapshot.context;
    if (ctx.operation !== null && ctx.operation !== w.lastContext?.operation) w.operationStartedAt = now;
    if (ctx.operation === null && phaseOf(snapshot.value) !== 'failed') w.operationStartedAt = null;
    const phase = phaseOf(snapshot.value);
    const step = stepOf(snapshot.value);
    if (phase !== 'failed' && phase !== 'rollingBack') w.operationStep = step;
    if (value !== w.lastValue) {
      const fields = { state: value, operation: ctx.operation, containerId: ctx.containerId, lastError: ctx.lastError };
      if (value === 'failed') w.log.warn({ ...fields, failure: ctx.failure }, 'vPLC failed');
      else w.log.info(fields, 'vPLC state changed');
    }
    w.lastValue = value;
    w.lastContext = ctx;
    w.updatedAt = now;
    const status = this.toStatus(name, w, snapshot);
    for (const listener of this.listeners) {
      try {
        listener(status);
      } catch (err) {
        w.log.error({ err: errorText(err) }, 'vPLC status listener failed');
      }
    }
  }

  private toStatus(name: string, w: Watched, snapshot: VplcSnapshot = w.ref.getSnapshot()): VplcStatus {
    const ctx = snapshot.context;
    const phase = phaseOf(snapshot.value);
    const failure = phase === 'failed' ? ctx.failure : null;
    return {
      name,
      state: dottedState(snapshot.value),
      phase,
      step: stepOf(snapshot.value),
      desired: ctx.desired,
      operation: failure ? failure.operation : ctx.operation,
      operationStartedAt: w.operationStartedAt,
      failedStep: failure ? w.operationStep : null,
      updatedAt: w.updatedAt,
      containerId: ctx.containerId,
      lastError: ctx.lastError,
      failure: failure
        ? { reason: failure.reason, exitCode: failure.exitCode, oomKilled: failure.oomKilled, at: failure.at }
        : null,
      restartCount: ctx.restartCount,
      startedAt: ctx.startedAt,
      spec: ctx.spec,
    };
  }
}

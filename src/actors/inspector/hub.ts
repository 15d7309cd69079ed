import type { Logger } from 'pino';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { machineToDot } from '../../machines/diagram.js';
import { linkMachine } from '../../machines/link.machine.js';
import { supervisorMachine } from '../../machines/supervisor/machine.js';
import { vplcMachine } from '../../machines/vplc/machine.js';
import { dottedState, type Supervisor, type VplcStatus } from '../vplc/supervisor.js';
import { type Summary, summarize, summarizeEvent } from './summary.js';

/**
 * What the inspector page shows (docs/protocol.md#inspector), gathered from the running system:
 *
 * - the live actors — the supervisor, each vPLC, the cloud and sidecar links — read from their snapshots when asked;
 * - an event log (events in, state changes, invoked steps with duration and outcome) fed from XState's inspection
 *   API (`system.inspect`) of the three actor systems, bounded to `historyLimit` entries;
 * - per vPLC, its lifecycle timeline (each state with its duration, errors, restarts, the budget left), from the
 *   supervisor's status changes, bounded per vPLC.
 *
 * The inspection observers are attached only while a viewer is connected: with nobody watching, XState produces no
 * inspection events at all, and the only cost is one timeline entry per vPLC state change. Updates reach viewers
 * in batches at most every `flushMs`, a batch never holding more than `batchLimit` entries (the rest are counted as
 * dropped), so a storm of events costs bounded memory and bounded writes.
 */

export type LinkName = 'cloud' | 'sidecar';

interface InspectableLink {
  actorRef(): AnyActorRef;
  inspect(observer: (event: InspectionEvent) => void): () => void;
}

export interface ActorView {
  id: string;
  /** The machine it runs: vplc, supervisor or link. */
  machine: string;
  /** Dotted state, e.g. `creating.image`. */
  state: string;
  /** State node ids active now, as the diagram names them (`vplc.creating`, `vplc.creating.image`). */
  active: string[];
  status: string;
  context: Summary;
}

export type LogEntry =
  | { seq: number; at: number; kind: 'event'; actor: string; event: string; from: string | null; fields: Summary }
  | { seq: number; at: number; kind: 'state'; actor: string; from: string | null; to: string }
  | {
      seq: number;
      at: number;
      kind: 'step';
      actor: string;
      step: string;
      outcome: 'done' | 'error';
      ms: number;
      error: string | null;
    };

type NewLogEntry = LogEntry extends infer E ? (E extends LogEntry ? Omit<E, 'seq' | 'at'> : never) : never;

export interface TimelineEntry {
  state: string;
  at: number;
  /** Null while it is the current state. */
  ms: number | null;
  error: string | null;
  restartCount: number;
  restartBudgetLeft: number | null;
}

export interface InspectorSnapshot {
  actors: ActorView[];
  log: LogEntry[];
  timelines: Record<string, TimelineEntry[]>;
  /** Entries left out of the log since it started (batches over their limit). */
  dropped: number;
}

export interface InspectorBatch {
  actors: ActorView[];
  log: LogEntry[];
  timelines: Record<string, TimelineEntry[]>;
  dropped: number;
}

export interface InspectorHubOptions {
  supervisor: Supervisor;
  links: Record<LinkName, InspectableLink>;
  log: Logger;
  now?: () => number;
  historyLimit?: number;
  timelineLimit?: number;
  batchLimit?: number;
  flushMs?: number;
}

/** Invoked steps in flight, by session id; bounded (the oldest is forgotten) so a leak cannot grow it. */
const MAX_STEPS_IN_FLIGHT = 2_000;
/** Timelines of deleted vPLCs kept for a look back. */
const MAX_GONE_TIMELINES = 16;

export class InspectorHub {
  private readonly supervisor: Supervisor;
  private readonly links: Record<LinkName, InspectableLink>;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly historyLimit: number;
  private readonly timelineLimit: number;
  private readonly batchLimit: number;
  private readonly flushMs: number;

  private readonly history: LogEntry[] = [];
  private readonly timelines = new Map<string, TimelineEntry[]>();
  private readonly gone: string[] = [];
  private readonly lastState = new Map<string, string>();
  private readonly steps = new Map<string, { actor: string; step: string; at: number }>();
  private readonly viewers = new Set<(batch: InspectorBatch) => void>();
  private detach: Array<() => void> = [];
  private readonly stopFollowing: () => void;
  private pending: LogEntry[] = [];
  private pendingTimelines = new Set<string>();
  private flushTimer: NodeJS.Timeout | null = null;
  private seq = 0;
  private dropped = 0;

  constructor(opts: InspectorHubOptions) {
    this.supervisor = opts.supervisor;
    this.links = opts.links;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.historyLimit = opts.historyLimit ?? 1_000;
    this.timelineLimit = opts.timelineLimit ?? 100;
    this.batchLimit = opts.batchLimit ?? 500;
    this.flushMs = opts.flushMs ?? 100;
    for (const status of this.supervisor.list()) this.follow(status);
    this.stopFollowing = this.supervisor.onChange((status) => this.follow(status));
  }

  /** Each machine's diagram as DOT, drawn from its definition (the same drawing as docs/). */
  diagrams(): Record<string, string> {
    return {
      vplc: machineToDot(vplcMachine, 'vPLC lifecycle'),
      supervisor: machineToDot(supervisorMachine, 'supervisor'),
      link: machineToDot(linkMachine, 'cloud and sidecar links'),
    };
  }

  snapshot(): InspectorSnapshot {
    return {
      actors: this.actors(),
      log: [...this.history],
      timelines: Object.fromEntries(this.timelines),
      dropped: this.dropped,
    };
  }

  /** A viewer connected: it gets batches until it unsubscribes. The first viewer attaches the inspection observers. */
  subscribe(viewer: (batch: InspectorBatch) => void): () => void {
    this.viewers.add(viewer);
    if (this.viewers.size === 1) this.attach();
    return () => {
      if (!this.viewers.delete(viewer)) return;
      if (this.viewers.size === 0) this.release();
    };
  }

  /** How many viewers are connected (the bench and the tests read it). */
  viewerCount(): number {
    return this.viewers.size;
  }

  stop(): void {
    this.viewers.clear();
    this.release();
    this.stopFollowing();
  }

  private attach(): void {
    const sources: Array<[string, (o: (e: InspectionEvent) => void) => () => void]> = [
      ['supervisor', (o) => this.supervisor.inspect(o)],
      ['cloud', (o) => this.links.cloud.inspect(o)],
      ['sidecar', (o) => this.links.sidecar.inspect(o)],
    ];
    for (const [system, inspect] of sources) {
      this.detach.push(
        inspect((event) => {
          try {
            this.onInspection(system, event);
          } catch (err) {
            // The inspector must never break what it watches.
            this.log.warn({ err, system }, 'inspection event not shown');
          }
        }),
      );
    }
    this.log.info({ step: 'inspector.attached' }, 'inspector viewer connected: inspection on');
  }

  private release(): void {
    if (this.detach.length === 0) return;
    for (const off of this.detach.splice(0)) off();
    this.steps.clear();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.pending = [];
    this.pendingTimelines.clear();
    this.log.info({ step: 'inspector.detached' }, 'no inspector viewer left: inspection off');
  }

  /** The name an actor has on the page: `supervisor`, `vplc:<name>`, `cloud`, `sidecar`. */
  private nameOf(system: string, ref: AnyActorRef | undefined): string | null {
    if (!ref) return null;
    if (system !== 'supervisor') return system;
    return ref.id.startsWith('vplc:') ? ref.id : 'supervisor';
  }

  private isMachine(ref: AnyActorRef): boolean {
    return typeof logicOf(ref)?.root === 'object';
  }

  private onInspection(system: string, event: InspectionEvent): void {
    const ref = event.actorRef as AnyActorRef;
    switch (event.type) {
      case '@xstate.actor': {
        if (this.isMachine(ref)) return;
        const parent = (ref as { _parent?: AnyActorRef })._parent;
        if (!parent) return;
        if (this.steps.size >= MAX_STEPS_IN_FLIGHT) this.steps.delete(this.steps.keys().next().value!);
        const src = typeof ref.src === 'string' ? ref.src : ref.id;
        this.steps.set(ref.sessionId, { actor: this.nameOf(system, parent) ?? system, step: src, at: this.now() });
        return;
      }
      case '@xstate.event': {
        if (!this.isMachine(ref)) return;
        const { type, fields } = summarizeEvent(event.event);
        // XState's own events (a step done, a delay over, init) show as steps and state changes.
        if (type.startsWith('xstate.')) return;
        const actor = this.nameOf(system, ref)!;
        const from = this.nameOf(system, event.sourceRef as AnyActorRef | undefined);
        this.push({ kind: 'event', actor, event: type, from: from === actor ? null : from, fields });
        return;
      }
      case '@xstate.snapshot': {
        const snapshot = event.snapshot as { status?: string; value?: unknown; error?: unknown };
        if (!this.isMachine(ref)) {
          const step = this.steps.get(ref.sessionId);
          if (!step || (snapshot.status !== 'done' && snapshot.status !== 'error')) return;
          this.steps.delete(ref.sessionId);
          const error =
            snapshot.status === 'error' ? String((snapshot.error as Error)?.message ?? snapshot.error) : null;
          this.push({
            kind: 'step',
            actor: step.actor,
            step: step.step,
            outcome: snapshot.status,
            ms: Math.max(0, this.now() - step.at),
            error: error && error.length > 300 ? `${error.slice(0, 300)}…` : error,
          });
          return;
        }
        const actor = this.nameOf(system, ref)!;
        const to = dottedState(snapshot.value);
        const from = this.lastState.get(actor) ?? null;
        if (from === to) return;
        this.lastState.set(actor, to);
        if (snapshot.status === 'stopped' || snapshot.status === 'done') this.lastState.delete(actor);
        this.push({ kind: 'state', actor, from, to });
        return;
      }
      default:
        return;
    }
  }

  private push(entry: NewLogEntry): void {
    const full = { ...entry, seq: ++this.seq, at: this.now() } as LogEntry;
    this.history.push(full);
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
    if (this.viewers.size === 0) return;
    if (this.pending.length >= this.batchLimit) {
      this.pending.shift();
      this.dropped++;
    }
    this.pending.push(full);
    this.schedule();
  }

  private schedule(): void {
    if (this.flushTimer || this.viewers.size === 0) return;
    this.flushTimer = setTimeout(() => this.flush(), this.flushMs);
  }

  private flush(): void {
    this.flushTimer = null;
    const batch: InspectorBatch = {
      actors: this.actors(),
      log: this.pending,
      timelines: Object.fromEntries([...this.pendingTimelines].map((n) => [n, this.timelines.get(n) ?? []])),
      dropped: this.dropped,
    };
    this.pending = [];
    this.pendingTimelines.clear();
    for (const viewer of this.viewers) viewer(batch);
  }

  /** A vPLC's status changed: a new timeline entry when its state did. */
  private follow(status: VplcStatus): void {
    const at = this.now();
    let timeline = this.timelines.get(status.name);
    if (!timeline) {
      timeline = [];
      this.timelines.set(status.name, timeline);
      const wasGone = this.gone.indexOf(status.name);
      if (wasGone !== -1) this.gone.splice(wasGone, 1);
    }
    const last = timeline.at(-1);
    const error = status.failure?.reason ?? status.lastError;
    const budget = this.supervisor.restartBudgetLeft(status.name) ?? null;
    if (last && last.state === status.state) {
      last.error = error;
      last.restartCount = status.restartCount;
      last.restartBudgetLeft = budget;
    } else {
      if (last) last.ms = at - last.at;
      timeline.push({
        state: status.state,
        at,
        ms: null,
        error,
        restartCount: status.restartCount,
        restartBudgetLeft: budget,
      });
      if (timeline.length > this.timelineLimit) timeline.splice(0, timeline.length - this.timelineLimit);
    }
    if (status.phase === 'deleted') {
      this.gone.push(status.name);
      while (this.gone.length > MAX_GONE_TIMELINES) this.timelines.delete(this.gone.shift()!);
    }
    if (this.viewers.size > 0) {
      this.pendingTimelines.add(status.name);
      this.schedule();
    }
  }

  private actors(): ActorView[] {
    const views: ActorView[] = this.supervisor.actorRefs().map(({ id, ref }) => this.view(id, ref));
    for (const name of ['cloud', 'sidecar'] as const) views.push(this.view(name, this.links[name].actorRef()));
    return views;
  }

  private view(id: string, ref: AnyActorRef): ActorView {
    const snapshot = ref.getSnapshot() as { value: unknown; status: string; context: unknown };
    const machine = logicOf(ref)?.id ?? 'actor';
    const context = summarize(snapshot.context);
    if (machine === 'vplc') {
      const name = id.slice('vplc:'.length);
      const left = this.supervisor.restartBudgetLeft(name);
      if (left !== undefined) context.restartBudgetLeft = left;
    }
    return {
      id,
      machine,
      state: dottedState(snapshot.value),
      active: activeIds(machine, snapshot.value),
      status: snapshot.status,
      context,
    };
  }
}

/** The logic an actor runs (XState's Actor has it; the ActorRef type leaves it out). */
function logicOf(ref: AnyActorRef): { root?: unknown; id?: string } | undefined {
  return (ref as unknown as { logic?: { root?: unknown; id?: string } }).logic;
}

/** The ids of the state nodes a state value makes active: `{creating: 'image'}` → vplc.creating, vplc.creating.image. */
export function activeIds(machine: string, value: unknown, prefix = machine): string[] {
  if (typeof value === 'string') return [`${prefix}.${value}`];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) => [
    `${prefix}.${key}`,
    ...activeIds(machine, inner, `${prefix}.${key}`),
  ]);
}

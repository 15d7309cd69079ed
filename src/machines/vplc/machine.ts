import { type ActorRefFrom, assign, emit, enqueueActions, fromPromise, not, type SnapshotFrom, setup } from 'xstate';
import * as msg from './messages.js';
import type { VplcOperation } from './messages.js';
import type { NetworkMoveRequest, NetworkMoveResult, VplcOps } from './ports.js';
import {
  backoffAttemptAfterCrash,
  DEFAULT_RESTART_BUDGET,
  parseInstant,
  type RestartBudget,
  restartsInWindow,
  withinRestartBudget,
} from './restartPolicy.js';
import { backoffMs, RESTART_BACKOFF } from '../../model/backoff.js';
import type { VplcFact } from '../../model/facts.js';
import type { ContainerExit, VplcSpec } from '../../model/vplc.js';
import { errorText } from '../../model/errors.js';

/**
 * The lifecycle of one vPLC (an OpenPLC runtime container and its networks).
 *
 * Rules the shape of this machine enforces:
 * - Every engine or sidecar call is an invoked actor of exactly one leaf state, and no leaf state is left
 *   while its call is in flight: commands and facts that arrive meanwhile are remembered in context and
 *   acted on when the call settles. So there is never more than one operation on a vPLC at a time, and a
 *   late result can never race the next step.
 * - Commands a state cannot take are simply not handled: the supervisor asks `snapshot.can(event)` first
 *   and answers with a refusal sentence (vplc.messages.ts); state and context stay as they were.
 * - The watchdog: a container that dies while it should run is restarted after a backoff, within a restart
 *   budget; past the budget the vPLC sits in `failed` until the cloud acts. Docker's own restart policy must
 *   therefore be `no` for managed runtimes, or the engine and this watchdog would both restart the
 *   container and the budget would count only half of the crashes.
 * - Our own stop and delete produce `die` events; they are expected in `stopping`, `restarting.stop` and
 *   `deleting` and ignored there, so they never count as crashes.
 * - A parent interface that changes subnet (`network.changed`) is noted in any state and acted on in `running`:
 *   `reattaching` releases DHCP, moves the MACVLAN endpoints to the new subnet's network and asks for fresh
 *   leases (D15). A vPLC that is not running when the change arrives moves the next time it runs.
 */

export type { VplcOperation } from './messages.js';
export type { RestartBudget } from './restartPolicy.js';

/** How boot reconciliation found the runtime: `missing` means labels/files know it but the container is gone. */
export type VplcInitial = 'creating' | 'running' | 'stopped' | 'missing' | 'failed';

export interface VplcInput {
  spec: VplcSpec;
  budget?: RestartBudget;
  /** Jitter source in [0, 1); injected so tests are deterministic. */
  random?: () => number;
  /** Clock in epoch ms; injected so tests can simulate hours of crashes. */
  now?: () => number;
  /** Start state. Default `creating` (a new runtime from `create_new_runtime`). */
  initial?: VplcInitial;
  containerId?: string | null;
  startedAt?: string | null;
  /** With `initial: 'failed'`: why (used when a broken lifecycle actor is replaced). */
  failureReason?: string;
}

export interface VplcFailure {
  reason: string;
  exitCode: number | null;
  oomKilled: boolean;
  at: string;
  /** The cloud operation that ended here, or null when the watchdog gave up on its own. */
  operation: VplcOperation | null;
}

/** An exit the machine still has to act on (a crash seen while a step was in flight). */
export interface PendingExit extends ContainerExit {
  /** Set when the "exit" is a failed restart attempt rather than an engine `die`. */
  error: string | null;
}

export interface VplcContext {
  spec: VplcSpec;
  desired: 'running' | 'stopped';
  /** The cloud operation in progress (null when idle or when the watchdog acts on its own). */
  operation: VplcOperation | null;
  /** DELETE arrived while a step was in flight: delete as soon as it settles. */
  deleteRequested: boolean;
  containerId: string | null;
  /** Engine's start time of the current run; separates stale `die` events from crashes of this run. */
  startedAt: string | null;
  internalIp: string | null;
  /** A crash seen mid-step, handled when the step settles. */
  pendingExit: PendingExit | null;
  /** The container was removed by someone else mid-step. */
  containerGone: boolean;
  /** Epoch ms of watchdog restarts inside the budget window. */
  restarts: number[];
  backoffAttempt: number;
  /** Epoch ms at which the pending watchdog restart is due (kept as a time, not a timer, so it survives a restore). */
  restartAt: number | null;
  /** Watchdog restarts since this actor began. */
  restartCount: number;
  lastError: string | null;
  /** `lastError` is a DHCP warning that a lease will clear. */
  dhcpWarning: boolean;
  /** `lastError` reports what a network move could not keep (or why it failed); the next clean move clears it. */
  networkWarning: boolean;
  /** Parent interfaces whose subnet changed and that this vPLC has not moved to yet (acted on in `running`). */
  networkChanges: string[];
  /** The parent interfaces the `reattaching` in progress moves. */
  moving: string[];
  failure: VplcFailure | null;
  budget: RestartBudget;
  random: () => number;
  now: () => number;
}

export type VplcCommandEvent = { type: 'START' } | { type: 'STOP' } | { type: 'RESTART' } | { type: 'DELETE' };

export type VplcFactEvent = VplcFact;

export type VplcEvent = VplcCommandEvent | VplcFactEvent;

/** Emitted once per cloud operation when it ends (reached its goal, failed, or was superseded). */
export interface OperationEnded {
  type: 'operation.ended';
  operation: VplcOperation;
  success: boolean;
  error: string | null;
}

function notProvided(op: string): never {
  throw new Error(`${op} was not provided`);
}

/** Output or error of an invoked actor, read from the done/error event that settled it. */
function outputOf<T>(event: unknown): T {
  return (event as { output: T }).output;
}
function errorOf(event: unknown): string {
  return msg.errorText((event as { error?: unknown }).error);
}

const ISO = (ms: number) => new Date(ms).toISOString();

// ---- Transition building blocks shared by the step states ---------------------------------------------------

/** DELETE while a step is in flight: accepted now, carried out when the step settles. */
function deferDelete() {
  return {
    guard: not('deleteRequested'),
    actions: { type: 'beginOperation', params: { op: 'delete' } },
  } as const;
}

/** Facts worth remembering while a step runs against a started container. */
const watchRun = {
  'container.died': { guard: 'diedInCurrentRun', actions: 'recordExit' },
  'container.removed': { actions: 'noteContainerGone' },
} as const;
/** While stopping: our own stop explains any `die`, but a removal by someone else still matters. */
const watchRemoval = { 'container.removed': { actions: 'noteContainerGone' } } as const;

/** When a step settles, what arrived meanwhile comes first: a DELETE, then a removal, then a crash. */
const toDeleting = { guard: 'deleteRequested', target: '#vplc.deleting' } as const;
const toGoneActions = [
  'forgetContainer',
  {
    type: 'recordFailure',
    params: ({ context }: { context: VplcContext }) => ({ reason: msg.containerRemovedOutside(context.spec.name) }),
  },
] as const;
const toGone = { guard: 'containerGone', target: '#vplc.failed', actions: toGoneActions } as const;
/** At rest: a removal by someone else is a failure the cloud must see. */
const removedOutside = { target: '#vplc.failed', actions: toGoneActions } as const;
/** At rest: DELETE starts at once. */
const deleteNow = { target: '#vplc.deleting', actions: { type: 'beginOperation', params: { op: 'delete' } } } as const;
const toCrashed = { guard: 'crashPending', target: '#vplc.crashed' } as const;

function createStepFailed(step: 'image' | 'networks' | 'container' | 'start') {
  return [
    {
      guard: 'deleteRequested',
      target: '#vplc.deleting',
      actions: {
        type: 'recordError',
        params: ({ context, event }: { context: VplcContext; event: unknown }) => ({
          error: msg.createFailed(context.spec.name, step, errorOf(event)),
        }),
      },
    },
    {
      target: '#vplc.rollingBack',
      actions: {
        type: 'recordError',
        params: ({ context, event }: { context: VplcContext; event: unknown }) => ({
          error: msg.createFailed(context.spec.name, step, errorOf(event)),
        }),
      },
    },
  ] as const;
}

function rollbackFailedError() {
  return {
    type: 'recordError',
    params: ({ context, event }: { context: VplcContext; event: unknown }) => ({
      error: msg.rollbackFailed(context.spec.name, context.lastError ?? '', errorOf(event)),
    }),
  } as const;
}

function stopDhcpWarning() {
  return {
    type: 'recordError',
    params: ({ context, event }: { context: VplcContext; event: unknown }) => ({
      error: msg.stopDhcpFailed(context.spec.name, errorOf(event)),
    }),
  } as const;
}

function attachStep(next: 'dhcp') {
  return {
    on: { DELETE: deferDelete(), ...watchRun },
    invoke: {
      id: 'attachAgent',
      src: 'attachAgent',
      input: ({ context }: { context: VplcContext }) => context.spec.name,
      onDone: [
        { ...toDeleting, actions: 'recordAttach' },
        { ...toGone },
        { ...toCrashed, actions: 'recordAttach' },
        { target: next, actions: 'recordAttach' },
      ],
      // The runtime works without the agent on its bridge; only run_command and metrics need it (spec §8.8 step 7).
      onError: [
        toDeleting,
        toGone,
        toCrashed,
        {
          target: next,
          actions: {
            type: 'recordError',
            params: ({ context, event }: { context: VplcContext; event: unknown }) => ({
              error: msg.attachFailed(context.spec.name, errorOf(event)),
            }),
          },
        },
      ],
    },
  } as const;
}

function dhcpStep() {
  return {
    on: { DELETE: deferDelete(), ...watchRun },
    invoke: {
      id: 'startDhcp',
      src: 'startDhcp',
      input: ({ context }: { context: VplcContext }) => context.spec,
      onDone: [toDeleting, toGone, toCrashed, { target: '#vplc.running' }],
      // A missing lease is reported, not fatal: the PLC runs and its other vNICs work (D9, D10).
      onError: [
        toDeleting,
        toGone,
        toCrashed,
        {
          target: '#vplc.running',
          actions: {
            type: 'recordDhcpWarning',
            params: ({ context, event }: { context: VplcContext; event: unknown }) => ({
              error: msg.dhcpFailed(context.spec.name, errorOf(event)),
            }),
          },
        },
      ],
    },
  } as const;
}

export const vplcMachine = setup({
  types: {} as {
    context: VplcContext;
    events: VplcEvent;
    input: VplcInput;
    emitted: OperationEnded;
  },
  actors: {
    prepare: fromPromise<void, VplcSpec>(async () => notProvided('prepare')),
    createNetworks: fromPromise<void, VplcSpec>(async () => notProvided('createNetworks')),
    createContainer: fromPromise<{ containerId: string }, VplcSpec>(async () => notProvided('createContainer')),
    startContainer: fromPromise<{ containerId: string; startedAt: string }, string>(async () =>
      notProvided('startContainer'),
    ),
    attachAgent: fromPromise<{ internalIp: string | null }, string>(async () => notProvided('attachAgent')),
    startDhcp: fromPromise<void, VplcSpec>(async () => notProvided('startDhcp')),
    stopDhcp: fromPromise<void, VplcSpec>(async () => notProvided('stopDhcp')),
    stopContainer: fromPromise<void, string>(async () => notProvided('stopContainer')),
    removeContainer: fromPromise<void, string>(async () => notProvided('removeContainer')),
    removeNetworks: fromPromise<void, VplcSpec>(async () => notProvided('removeNetworks')),
    moveNetworks: fromPromise<NetworkMoveResult, NetworkMoveRequest>(async () => notProvided('moveNetworks')),
  },
  delays: {
    restartBackoff: ({ context }) => Math.max(0, (context.restartAt ?? 0) - context.now()),
  },
  guards: {
    foundFailed: ({ context }) => context.failure !== null,
    createRequested: ({ context }) => context.operation === 'create',
    foundStopped: ({ context }) => context.desired === 'stopped',
    deleteRequested: ({ context }) => context.deleteRequested,
    containerGone: ({ context }) => context.containerGone,
    hasContainer: ({ context }) => context.containerId !== null,
    operationInProgress: ({ context }) => context.operation !== null,
    watchdogRestart: ({ context }) => context.restartAt !== null,
    dhcpWarning: ({ context }) => context.dhcpWarning,
    networkWarning: ({ context }) => context.networkWarning,
    networkChangePending: ({ context }) => context.networkChanges.length > 0,
    /** A `die` that belongs to the run we know of (not a late event from an earlier stop). */
    diedInCurrentRun: ({ context, event }) => {
      if (event.type !== 'container.died') return false;
      const started = parseInstant(context.startedAt);
      const at = parseInstant(event.at);
      return started === null || at === null || at >= started;
    },
    /** A crash was seen mid-step. After a start, it must be newer than that start to count. */
    crashPending: ({ context, event }) => {
      if (context.pendingExit === null) return false;
      const out = (event as { output?: { startedAt?: string } }).output;
      const started = parseInstant(out?.startedAt ?? context.startedAt);
      const at = parseInstant(context.pendingExit.at);
      return started === null || at === null || at >= started;
    },
    restartBudgetLeft: ({ context }) => {
      const at = parseInstant(context.pendingExit?.at) ?? context.now();
      return withinRestartBudget(context.restarts, at, context.budget);
    },
    /** Static vNICs move too: their endpoint sits on the old subnet's network just the same. */
    usesChangedInterface: ({ context, event }) =>
      event.type === 'network.changed' && context.spec.vnics.some((v) => v.parent_interface === event.parentInterface),
  },
  actions: {
    /** A cloud command was accepted: it becomes the operation in progress (ending any it supersedes). */
    beginOperation: enqueueActions(({ context, enqueue }, params: { op: VplcOperation }) => {
      const { op } = params;
      if (context.operation !== null && context.operation !== op) {
        enqueue(
          emit({
            type: 'operation.ended',
            operation: context.operation,
            success: false,
            error: msg.superseded(context.spec.name, context.operation, op),
          }),
        );
      }
      // A network conflict stays visible through stop/start/restart: the container keeps that configuration
      // until the cloud sends a new one (delete and create).
      const keepConflict = context.networkWarning && op !== 'delete';
      enqueue(
        assign({
          operation: op,
          desired: op === 'stop' ? 'stopped' : op === 'delete' ? context.desired : 'running',
          deleteRequested: op === 'delete',
          lastError: keepConflict ? context.lastError : null,
          dhcpWarning: false,
          networkWarning: keepConflict,
          failure: null,
        }),
      );
      // An explicit start or restart from the cloud is a fresh chance: the crash budget starts over.
      if (op === 'start' || op === 'restart') enqueue(assign({ restarts: [], backoffAttempt: 0, restartAt: null }));
    }),
    /** Entry of a goal state (running, stopped, deleted): the operation in progress succeeded. */
    endOperation: enqueueActions(({ context, enqueue }) => {
      if (context.operation !== null) {
        enqueue(emit({ type: 'operation.ended', operation: context.operation, success: true, error: null }));
      }
      enqueue(assign({ operation: null, deleteRequested: false }));
    }),
    /** Entry of `failed`: the operation in progress (if any) failed with the recorded reason. */
    announceFailure: enqueueActions(({ context, enqueue }) => {
      const reason = context.failure?.reason ?? msg.internalFailure(context.spec.name, 'no reason recorded');
      if (context.operation !== null) {
        enqueue(emit({ type: 'operation.ended', operation: context.operation, success: false, error: reason }));
      }
      enqueue(
        assign({
          failure: {
            reason,
            exitCode: context.failure?.exitCode ?? null,
            oomKilled: context.failure?.oomKilled ?? false,
            at: context.failure?.at ?? ISO(context.now()),
            operation: context.operation,
          },
          lastError: reason,
          dhcpWarning: false,
          networkWarning: false,
          operation: null,
          deleteRequested: false,
          pendingExit: null,
          containerGone: false,
          restartAt: null,
        }),
      );
    }),
    recordFailure: assign({
      failure: ({ context }, params: { reason: string; exit?: ContainerExit | null }) => ({
        reason: params.reason,
        exitCode: params.exit?.exitCode ?? null,
        oomKilled: params.exit?.oomKilled ?? false,
        at: params.exit?.at ?? ISO(context.now()),
        operation: context.operation,
      }),
    }),
    recordError: assign({
      lastError: (_, params: { error: string }) => params.error,
      dhcpWarning: false,
      networkWarning: false,
    }),
    recordDhcpWarning: assign({
      lastError: (_, params: { error: string }) => params.error,
      dhcpWarning: true,
      networkWarning: false,
    }),
    clearDhcpWarning: assign({ lastError: null, dhcpWarning: false }),
    noteNetworkChange: assign({
      networkChanges: ({ context, event }) => {
        const parent = (event as Extract<VplcFactEvent, { type: 'network.changed' }>).parentInterface;
        return context.networkChanges.includes(parent) ? context.networkChanges : [...context.networkChanges, parent];
      },
    }),
    beginReattach: assign(({ context }) => ({ moving: context.networkChanges, networkChanges: [] })),
    /** A reattach cut short by a crash before its move finished: move again once the vPLC runs. */
    requeueMove: assign({
      networkChanges: ({ context }) => [...new Set([...context.moving, ...context.networkChanges])],
    }),
    recordMoveResult: assign(({ context, event }) => {
      const { conflicts } = outputOf<NetworkMoveResult>(event);
      if (conflicts.length > 0) {
        return { lastError: conflicts.join('; '), networkWarning: true, dhcpWarning: false };
      }
      return context.networkWarning ? { lastError: null, networkWarning: false } : {};
    }),
    recordMoveFailure: assign(({ context, event }) => ({
      lastError: msg.networkMoveFailed(context.spec.name, context.moving, errorOf(event)),
      networkWarning: true,
      dhcpWarning: false,
    })),
    recordContainer: assign({ containerId: ({ event }) => outputOf<{ containerId: string }>(event).containerId }),
    clearRun: assign({ startedAt: null, pendingExit: null }),
    recordStart: assign(({ event }) => {
      const out = outputOf<{ containerId: string; startedAt: string }>(event);
      return { containerId: out.containerId, startedAt: out.startedAt };
    }),
    recordAttach: assign({ internalIp: ({ event }) => outputOf<{ internalIp: string | null }>(event).internalIp }),
    recordExit: assign({
      pendingExit: ({ event }) => {
        const e = event as Extract<VplcFactEvent, { type: 'container.died' }>;
        return { exitCode: e.exitCode, oomKilled: e.oomKilled, at: e.at, error: null };
      },
    }),
    recordFailedRestartAttempt: assign({
      pendingExit: ({ context, event }) => ({
        exitCode: null,
        oomKilled: false,
        at: ISO(context.now()),
        error: msg.restartAttemptFailed(context.spec.name, errorOf(event)),
      }),
    }),
    noteContainerGone: assign({ containerGone: true }),
    forgetContainer: assign({ containerId: null, startedAt: null, internalIp: null }),
    adoptStartedContainer: assign(({ event }) => {
      const e = event as Extract<VplcFactEvent, { type: 'container.started' }>;
      return { containerId: e.containerId, startedAt: e.startedAt, desired: 'running' as const, failure: null };
    }),
    /** The watchdog answers a crash: note it in the budget and pick the backoff. */
    scheduleRestart: assign(({ context }) => {
      const exit = context.pendingExit ?? { exitCode: null, oomKilled: false, at: ISO(context.now()), error: null };
      const at = parseInstant(exit.at) ?? context.now();
      const attempt = backoffAttemptAfterCrash(context.backoffAttempt, parseInstant(context.startedAt), at);
      const delayMs = backoffMs(attempt, RESTART_BACKOFF, context.random);
      const restarts = [...restartsInWindow(context.restarts, at, context.budget), at];
      const name = context.spec.name;
      return {
        restarts,
        backoffAttempt: attempt + 1,
        restartAt: context.now() + delayMs,
        restartCount: context.restartCount + 1,
        pendingExit: null,
        startedAt: null,
        lastError:
          exit.error ??
          msg.crashRestarting(name, exit, delayMs, restarts.length, context.budget.max, context.budget.windowMs),
        dhcpWarning: false,
        networkWarning: false,
      };
    }),
    giveUpRestarting: assign({
      failure: ({ context }) => {
        const exit = context.pendingExit ?? { exitCode: null, oomKilled: false, at: ISO(context.now()), error: null };
        return {
          reason: msg.restartBudgetExhausted(
            context.spec.name,
            exit,
            context.budget.max,
            context.budget.windowMs,
            exit.error,
          ),
          exitCode: exit.exitCode,
          oomKilled: exit.oomKilled,
          at: exit.at,
          operation: context.operation,
        };
      },
    }),
    clearRestartTimer: assign({ restartAt: null }),
    forgetInterrupts: assign({ pendingExit: null, containerGone: false, restartAt: null, networkChanges: [] }),
  },
}).createMachine({
  id: 'vplc',
  context: ({ input }) => {
    const initial = input.initial ?? 'creating';
    const now = input.now ?? Date.now;
    return {
      spec: input.spec,
      desired: initial === 'stopped' ? 'stopped' : 'running',
      operation: initial === 'creating' ? 'create' : null,
      deleteRequested: false,
      containerId: initial === 'missing' ? null : (input.containerId ?? null),
      startedAt: initial === 'running' ? (input.startedAt ?? null) : null,
      internalIp: null,
      pendingExit: null,
      containerGone: false,
      restarts: [],
      backoffAttempt: 0,
      restartAt: null,
      restartCount: 0,
      lastError: null,
      dhcpWarning: false,
      networkWarning: false,
      networkChanges: [],
      moving: [],
      failure:
        initial === 'missing' || initial === 'failed'
          ? {
              reason:
                initial === 'missing'
                  ? msg.containerMissing(input.spec.name)
                  : (input.failureReason ?? msg.internalFailure(input.spec.name, 'unknown')),
              exitCode: null,
              oomKilled: false,
              at: ISO(now()),
              operation: null,
            }
          : null,
      budget: input.budget ?? DEFAULT_RESTART_BUDGET,
      random: input.random ?? Math.random,
      now,
    };
  },
  initial: 'boot',
  on: {
    'dhcp.lease': { guard: 'dhcpWarning', actions: 'clearDhcpWarning' },
    // Whatever the vPLC is doing, the change is remembered; `running` acts on it.
    'network.changed': { guard: 'usesChangedInterface', actions: 'noteNetworkChange' },
  },
  states: {
    /** Picks the start state from the input: a new runtime, or one boot reconciliation found. */
    boot: {
      always: [
        { guard: 'foundFailed', target: 'failed' },
        { guard: 'createRequested', target: 'creating' },
        { guard: 'foundStopped', target: 'stopped' },
        // Found running: join its internal network and renew DHCP, as after our own start (D30).
        { guard: 'hasContainer', target: 'adopting' },
        {
          target: 'failed',
          actions: {
            type: 'recordFailure',
            params: ({ context }) => ({ reason: msg.containerMissing(context.spec.name) }),
          },
        },
      ],
    },

    creating: {
      initial: 'image',
      states: {
        image: {
          on: { DELETE: deferDelete() },
          invoke: {
            id: 'prepare',
            src: 'prepare',
            input: ({ context }) => context.spec,
            onDone: [toDeleting, { target: 'networks' }],
            onError: createStepFailed('image'),
          },
        },
        networks: {
          on: { DELETE: deferDelete() },
          invoke: {
            id: 'createNetworks',
            src: 'createNetworks',
            input: ({ context }) => context.spec,
            onDone: [toDeleting, { target: 'container' }],
            onError: createStepFailed('networks'),
          },
        },
        container: {
          on: { DELETE: deferDelete() },
          invoke: {
            id: 'createContainer',
            src: 'createContainer',
            input: ({ context }) => context.spec,
            onDone: [
              { ...toDeleting, actions: 'recordContainer' },
              { target: 'start', actions: 'recordContainer' },
            ],
            onError: createStepFailed('container'),
          },
        },
        start: {
          entry: 'clearRun',
          on: { DELETE: deferDelete(), ...watchRun },
          invoke: {
            id: 'startContainer',
            src: 'startContainer',
            input: ({ context }) => context.spec.name,
            onDone: [
              { ...toDeleting, actions: 'recordStart' },
              { ...toGone, actions: ['recordStart', ...toGoneActions] },
              { ...toCrashed, actions: 'recordStart' },
              { target: 'attach', actions: 'recordStart' },
            ],
            onError: createStepFailed('start'),
          },
        },
        attach: attachStep('dhcp'),
        dhcp: dhcpStep(),
      },
    },

    /** A create failed: remove what it made (same safe operations as delete), then sit in `failed`. */
    rollingBack: {
      initial: 'container',
      on: { DELETE: deferDelete() },
      states: {
        container: {
          invoke: {
            id: 'removeContainer',
            src: 'removeContainer',
            input: ({ context }) => context.spec.name,
            onDone: { target: 'networks', actions: 'forgetContainer' },
            onError: [
              { ...toDeleting, actions: rollbackFailedError() },
              {
                target: '#vplc.failed',
                actions: {
                  type: 'recordFailure',
                  params: ({ context, event }) => ({
                    reason: msg.rollbackFailed(context.spec.name, context.lastError ?? '', errorOf(event)),
                  }),
                },
              },
            ],
          },
        },
        networks: {
          invoke: {
            id: 'removeNetworks',
            src: 'removeNetworks',
            input: ({ context }) => context.spec,
            onDone: [
              toDeleting,
              {
                target: '#vplc.failed',
                actions: {
                  type: 'recordFailure',
                  params: ({ context }) => ({ reason: msg.rolledBack(context.lastError ?? '') }),
                },
              },
            ],
            onError: [
              { ...toDeleting, actions: rollbackFailedError() },
              {
                target: '#vplc.failed',
                actions: {
                  type: 'recordFailure',
                  params: ({ context, event }) => ({
                    reason: msg.rollbackFailed(context.spec.name, context.lastError ?? '', errorOf(event)),
                  }),
                },
              },
            ],
          },
        },
      },
    },

    /** START of a stopped (or failed) vPLC whose container exists. */
    starting: {
      initial: 'start',
      states: {
        start: {
          entry: 'clearRun',
          on: { DELETE: deferDelete(), ...watchRun },
          invoke: {
            id: 'startContainer',
            src: 'startContainer',
            input: ({ context }) => context.spec.name,
            onDone: [
              { ...toDeleting, actions: 'recordStart' },
              { ...toGone, actions: ['recordStart', ...toGoneActions] },
              { ...toCrashed, actions: 'recordStart' },
              { target: 'attach', actions: 'recordStart' },
            ],
            onError: [
              toDeleting,
              toGone,
              {
                target: '#vplc.failed',
                actions: {
                  type: 'recordFailure',
                  params: ({ context, event }) => ({ reason: msg.startFailed(context.spec.name, errorOf(event)) }),
                },
              },
            ],
          },
        },
        attach: attachStep('dhcp'),
        dhcp: dhcpStep(),
      },
    },

    /** Boot reconciliation found the container running: reconnect to it before calling it running. */
    adopting: {
      initial: 'attach',
      states: {
        attach: attachStep('dhcp'),
        dhcp: dhcpStep(),
      },
    },

    running: {
      entry: 'endOperation',
      always: { guard: 'networkChangePending', target: 'reattaching', actions: 'beginReattach' },
      on: {
        STOP: { target: 'stopping', actions: { type: 'beginOperation', params: { op: 'stop' } } },
        RESTART: { target: 'restarting', actions: { type: 'beginOperation', params: { op: 'restart' } } },
        DELETE: deleteNow,
        'container.died': { guard: 'diedInCurrentRun', target: 'crashed', actions: 'recordExit' },
        'container.removed': removedOutside,
      },
    },

    /**
     * A parent interface changed subnet (D15): release DHCP (its interface is about to go), move the MACVLAN
     * endpoints to the new subnet's network, then ask for fresh leases. A crash before the move finished puts
     * the move back on the list, so it happens once the watchdog has the vPLC running again.
     */
    reattaching: {
      initial: 'releaseDhcp',
      states: {
        releaseDhcp: {
          on: { DELETE: deferDelete(), ...watchRun },
          invoke: {
            id: 'stopDhcp',
            src: 'stopDhcp',
            input: ({ context }) => context.spec,
            onDone: [toDeleting, { ...toGone }, { ...toCrashed, actions: 'requeueMove' }, { target: 'move' }],
            onError: [
              toDeleting,
              toGone,
              { ...toCrashed, actions: 'requeueMove' },
              { target: 'move', actions: stopDhcpWarning() },
            ],
          },
        },
        move: {
          on: { DELETE: deferDelete(), ...watchRun },
          invoke: {
            id: 'moveNetworks',
            src: 'moveNetworks',
            input: ({ context }) => ({ spec: context.spec, parentInterfaces: context.moving }),
            onDone: [
              toDeleting,
              toGone,
              { ...toCrashed, actions: 'recordMoveResult' },
              { target: 'dhcp', actions: 'recordMoveResult' },
            ],
            // Not fatal: the PLC keeps running; the sentence says what failed and what to do.
            onError: [
              toDeleting,
              toGone,
              { ...toCrashed, actions: 'recordMoveFailure' },
              { target: 'dhcp', actions: 'recordMoveFailure' },
            ],
          },
        },
        dhcp: {
          on: { DELETE: deferDelete(), ...watchRun },
          invoke: {
            id: 'startDhcp',
            src: 'startDhcp',
            input: ({ context }) => context.spec,
            onDone: [toDeleting, toGone, toCrashed, { target: '#vplc.running' }],
            onError: [
              toDeleting,
              toGone,
              toCrashed,
              // A network conflict matters more than a lease that is retried anyway: it keeps its place.
              { guard: 'networkWarning', target: '#vplc.running' },
              {
                target: '#vplc.running',
                actions: {
                  type: 'recordDhcpWarning',
                  params: ({ context, event }) => ({ error: msg.dhcpFailed(context.spec.name, errorOf(event)) }),
                },
              },
            ],
          },
        },
      },
    },

    /** The container died while it should run; decide between a restart and giving up. */
    crashed: {
      always: [
        { guard: 'restartBudgetLeft', target: 'restarting', actions: 'scheduleRestart' },
        { target: 'failed', actions: 'giveUpRestarting' },
      ],
    },

    stopping: {
      initial: 'releaseDhcp',
      states: {
        releaseDhcp: {
          on: { DELETE: deferDelete(), ...watchRemoval },
          invoke: {
            id: 'stopDhcp',
            src: 'stopDhcp',
            input: ({ context }) => context.spec,
            onDone: [toDeleting, { target: 'stop' }],
            onError: [toDeleting, { target: 'stop', actions: stopDhcpWarning() }],
          },
        },
        stop: {
          on: { DELETE: deferDelete(), ...watchRemoval },
          invoke: {
            id: 'stopContainer',
            src: 'stopContainer',
            input: ({ context }) => context.spec.name,
            onDone: [toDeleting, toGone, { target: '#vplc.stopped' }],
            onError: [
              toDeleting,
              toGone,
              {
                target: '#vplc.failed',
                actions: {
                  type: 'recordFailure',
                  params: ({ context, event }) => ({ reason: msg.stopFailed(context.spec.name, errorOf(event)) }),
                },
              },
            ],
          },
        },
      },
    },

    stopped: {
      entry: 'endOperation',
      on: {
        START: [
          { guard: 'hasContainer', target: 'starting', actions: { type: 'beginOperation', params: { op: 'start' } } },
          { target: 'creating', actions: { type: 'beginOperation', params: { op: 'start' } } },
        ],
        RESTART: [
          { guard: 'hasContainer', target: 'starting', actions: { type: 'beginOperation', params: { op: 'restart' } } },
          { target: 'creating', actions: { type: 'beginOperation', params: { op: 'restart' } } },
        ],
        DELETE: deleteNow,
        // Someone started it by hand: reality wins, and from now on the watchdog guards it.
        'container.started': { target: 'adopting', actions: 'adoptStartedContainer' },
        'container.removed': removedOutside,
      },
    },

    /**
     * Two ways in: the cloud's RESTART (release DHCP, stop, start) and the watchdog after a crash
     * (release DHCP, wait out the backoff, start). `restartAt` tells them apart.
     */
    restarting: {
      initial: 'releaseDhcp',
      states: {
        releaseDhcp: {
          on: { DELETE: deferDelete(), ...watchRemoval },
          invoke: {
            id: 'stopDhcp',
            src: 'stopDhcp',
            input: ({ context }) => context.spec,
            onDone: [toDeleting, toGone, { guard: 'watchdogRestart', target: 'backoff' }, { target: 'stop' }],
            onError: [
              toDeleting,
              toGone,
              { guard: 'watchdogRestart', target: 'backoff', actions: stopDhcpWarning() },
              { target: 'stop', actions: stopDhcpWarning() },
            ],
          },
        },
        stop: {
          on: { DELETE: deferDelete(), ...watchRemoval },
          invoke: {
            id: 'stopContainer',
            src: 'stopContainer',
            input: ({ context }) => context.spec.name,
            onDone: [toDeleting, toGone, { target: 'start' }],
            onError: [
              toDeleting,
              toGone,
              {
                target: '#vplc.failed',
                actions: {
                  type: 'recordFailure',
                  params: ({ context, event }) => ({
                    reason: msg.restartStepFailed(context.spec.name, 'stop', errorOf(event)),
                  }),
                },
              },
            ],
          },
        },
        /** Nothing in flight here: every command is taken at once. */
        backoff: {
          exit: 'clearRestartTimer',
          after: { restartBackoff: 'start' },
          on: {
            START: { target: 'start', actions: { type: 'beginOperation', params: { op: 'start' } } },
            RESTART: { target: 'start', actions: { type: 'beginOperation', params: { op: 'restart' } } },
            STOP: { target: '#vplc.stopped', actions: { type: 'beginOperation', params: { op: 'stop' } } },
            DELETE: { target: '#vplc.deleting', actions: { type: 'beginOperation', params: { op: 'delete' } } },
            'container.started': { target: '#vplc.adopting', actions: 'adoptStartedContainer' },
            'container.removed': {
              target: '#vplc.failed',
              actions: [
                'forgetContainer',
                {
                  type: 'recordFailure',
                  params: ({ context }) => ({ reason: msg.containerRemovedOutside(context.spec.name) }),
                },
              ],
            },
          },
        },
        start: {
          entry: 'clearRun',
          on: { DELETE: deferDelete(), ...watchRun },
          invoke: {
            id: 'startContainer',
            src: 'startContainer',
            input: ({ context }) => context.spec.name,
            onDone: [
              { ...toDeleting, actions: 'recordStart' },
              { ...toGone, actions: ['recordStart', ...toGoneActions] },
              { ...toCrashed, actions: 'recordStart' },
              { target: 'attach', actions: 'recordStart' },
            ],
            onError: [
              toDeleting,
              toGone,
              // A restart the cloud asked for failed: report it. A watchdog restart that failed is one
              // more crash and spends budget like one.
              {
                guard: 'operationInProgress',
                target: '#vplc.failed',
                actions: {
                  type: 'recordFailure',
                  params: ({ context, event }) => ({
                    reason: msg.restartStepFailed(context.spec.name, 'start', errorOf(event)),
                  }),
                },
              },
              { target: '#vplc.crashed', actions: 'recordFailedRestartAttempt' },
            ],
          },
        },
        attach: attachStep('dhcp'),
        dhcp: dhcpStep(),
      },
    },

    /** Stop gracefully (OpenPLC gets the engine's 10 s to shut down), then remove everything. */
    deleting: {
      // A crash or removal noticed while the last step ran no longer matters: everything is going.
      entry: 'forgetInterrupts',
      initial: 'releaseDhcp',
      states: {
        releaseDhcp: {
          invoke: {
            id: 'stopDhcp',
            src: 'stopDhcp',
            input: ({ context }) => context.spec,
            onDone: 'stop',
            onError: { target: 'stop', actions: stopDhcpWarning() },
          },
        },
        stop: {
          invoke: {
            id: 'stopContainer',
            src: 'stopContainer',
            input: ({ context }) => context.spec.name,
            onDone: 'remove',
            // The removal is forced anyway: a failed graceful stop only costs the clean shutdown.
            onError: {
              target: 'remove',
              actions: {
                type: 'recordError',
                params: ({ context, event }) => ({
                  error: msg.stopBeforeDeleteFailed(context.spec.name, errorOf(event)),
                }),
              },
            },
          },
        },
        remove: {
          invoke: {
            id: 'removeContainer',
            src: 'removeContainer',
            input: ({ context }) => context.spec.name,
            onDone: { target: 'networks', actions: 'forgetContainer' },
            onError: {
              target: '#vplc.failed',
              actions: {
                type: 'recordFailure',
                params: ({ context, event }) => ({
                  reason: msg.deleteFailed(context.spec.name, 'remove', errorOf(event)),
                }),
              },
            },
          },
        },
        networks: {
          invoke: {
            id: 'removeNetworks',
            src: 'removeNetworks',
            input: ({ context }) => context.spec,
            onDone: '#vplc.deleted',
            onError: {
              target: '#vplc.failed',
              actions: {
                type: 'recordFailure',
                params: ({ context, event }) => ({
                  reason: msg.deleteFailed(context.spec.name, 'networks', errorOf(event)),
                }),
              },
            },
          },
        },
      },
    },

    /** Waits for the cloud: START, RESTART or DELETE. The watchdog never restarts from here. */
    failed: {
      entry: 'announceFailure',
      on: {
        START: [
          { guard: 'hasContainer', target: 'starting', actions: { type: 'beginOperation', params: { op: 'start' } } },
          { target: 'creating', actions: { type: 'beginOperation', params: { op: 'start' } } },
        ],
        RESTART: [
          {
            guard: 'hasContainer',
            target: 'restarting',
            actions: { type: 'beginOperation', params: { op: 'restart' } },
          },
          { target: 'creating', actions: { type: 'beginOperation', params: { op: 'restart' } } },
        ],
        DELETE: deleteNow,
        'container.started': { target: 'adopting', actions: 'adoptStartedContainer' },
        'container.removed': { actions: 'forgetContainer' },
      },
    },

    deleted: {
      type: 'final',
      entry: 'endOperation',
    },
  },
});

export type VplcMachine = typeof vplcMachine;
export type VplcActor = ActorRefFrom<VplcMachine>;
export type VplcSnapshot = SnapshotFrom<VplcMachine>;

/** The machine with every I/O step bound to real (or fake) operations. */
export function provideVplcOps(ops: VplcOps) {
  return vplcMachine.provide({
    actors: {
      prepare: fromPromise<void, VplcSpec>(({ input }) => ops.prepare(input)),
      createNetworks: fromPromise<void, VplcSpec>(({ input }) => ops.createNetworks(input)),
      createContainer: fromPromise<{ containerId: string }, VplcSpec>(({ input }) => ops.createContainer(input)),
      startContainer: fromPromise<{ containerId: string; startedAt: string }, string>(({ input }) =>
        ops.startContainer(input),
      ),
      attachAgent: fromPromise<{ internalIp: string | null }, string>(({ input }) => ops.attachAgent(input)),
      startDhcp: fromPromise<void, VplcSpec>(({ input }) => ops.startDhcp(input)),
      stopDhcp: fromPromise<void, VplcSpec>(({ input }) => ops.stopDhcp(input)),
      stopContainer: fromPromise<void, string>(({ input }) => ops.stopContainer(input)),
      removeContainer: fromPromise<void, string>(({ input }) => ops.removeContainer(input)),
      removeNetworks: fromPromise<void, VplcSpec>(({ input }) => ops.removeNetworks(input)),
      moveNetworks: fromPromise<NetworkMoveResult, NetworkMoveRequest>(({ input }) => ops.moveNetworks(input)),
    },
  });
}

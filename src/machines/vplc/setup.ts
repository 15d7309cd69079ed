import { assign, emit, enqueueActions, setup } from 'xstate';
import { stepActors, unprovided, type VplcStepEvent } from './actors.js';
import * as msg from './messages.js';
import type { VplcOperation } from './messages.js';
import { backoffAttemptAfterCrash, parseInstant, restartsInWindow, withinRestartBudget } from './restartPolicy.js';
import type { OperationEnded, PendingExit, VplcContext, VplcEvent, VplcFailure, VplcInput } from './context.js';
import { backoffMs, RESTART_BACKOFF } from '../../model/backoff.js';

/**
 * How the vPLC lifecycle does what its states say: the I/O steps it invokes, the guards it decides with, the
 * actions that keep its context, and the restart timer. The phase files (creating.ts, running.ts, …) say
 * *what* happens using these names; production and tests swap the steps with `provideVplcOps`.
 *
 * Naming: a `record…Failure` action gives the reason `failed` will announce; a `record…Error` action puts
 * a sentence in `lastError` while the vPLC carries on (it replaces any DHCP or network warning).
 * Actions that read an event check its type first: that gives the typed event (a step's output, a fact's
 * fields) without a cast, and an action listed on the wrong event changes nothing.
 */

export type * from './context.js';
export type { VplcStep, VplcStepEvent } from './actors.js';

/** Everything the machine reacts to: what others send it, and how its own steps settle. */
type MachineEvent = VplcEvent | VplcStepEvent;

const ISO = (ms: number) => new Date(ms).toISOString();

/** Why a step failed, read from the error event that settled it. */
function why(event: MachineEvent): string {
  return msg.errorText('error' in event ? event.error : undefined);
}

/** A reason for `failed` to announce, with no container exit behind it. */
function failure(context: VplcContext, reason: string): { failure: VplcFailure } {
  return {
    failure: { reason, exitCode: null, oomKilled: false, at: ISO(context.now()), operation: context.operation },
  };
}

/** A sentence in `lastError` that replaces any warning. */
function errorSentence(lastError: string) {
  return { lastError, dhcpWarning: false, networkWarning: false };
}

const noExit = (context: VplcContext): PendingExit => ({
  exitCode: null,
  oomKilled: false,
  at: ISO(context.now()),
  error: null,
});

export const vplcSetup = setup({
  types: {} as {
    context: VplcContext;
    events: MachineEvent;
    input: VplcInput;
    emitted: OperationEnded;
  },
  actors: stepActors(unprovided),
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
    hasDedicatedNic: ({ context }) => context.spec.dedicatedInterface !== undefined,
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
      // The guard runs before `recordStart`, so a start that just settled is read from its output.
      const startedAt = event.type === 'xstate.done.actor.startContainer' ? event.output.startedAt : context.startedAt;
      const started = parseInstant(startedAt);
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
        const error = msg.superseded(context.spec.name, context.operation, op);
        enqueue(emit({ type: 'operation.ended', operation: context.operation, success: false, error }));
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

    recordContainerMissing: assign(({ context }) => failure(context, msg.containerMissing(context.spec.name))),
    recordRemovedOutside: assign(({ context }) => failure(context, msg.containerRemovedOutside(context.spec.name))),
    recordStartFailure: assign(({ context, event }) =>
      failure(context, msg.startFailed(context.spec.name, why(event))),
    ),
    recordStopFailure: assign(({ context, event }) => failure(context, msg.stopFailed(context.spec.name, why(event)))),
    recordRestartStepFailure: assign(({ context, event }, params: { step: 'stop' | 'start' }) =>
      failure(context, msg.restartStepFailed(context.spec.name, params.step, why(event))),
    ),
    recordRolledBack: assign(({ context }) => failure(context, msg.rolledBack(context.lastError ?? ''))),
    recordRollbackFailure: assign(({ context, event }) =>
      failure(context, msg.rollbackFailed(context.spec.name, context.lastError ?? '', why(event))),
    ),
    recordDeleteFailure: assign(({ context, event }, params: { step: 'remove' | 'networks' }) =>
      failure(context, msg.deleteFailed(context.spec.name, params.step, why(event))),
    ),

    recordCreateError: assign(({ context, event }, params: { step: 'image' | 'networks' | 'container' | 'start' }) =>
      errorSentence(msg.createFailed(context.spec.name, params.step, why(event))),
    ),
    recordRollbackError: assign(({ context, event }) =>
      errorSentence(msg.rollbackFailed(context.spec.name, context.lastError ?? '', why(event))),
    ),
    recordAttachError: assign(({ context, event }) => errorSentence(msg.attachFailed(context.spec.name, why(event)))),
    recordNicError: assign(({ context, event }) => errorSentence(msg.nicFailed(context.spec.name, why(event)))),
    recordNicReturnError: assign(({ context, event }) =>
      errorSentence(msg.nicReturnFailed(context.spec.name, why(event))),
    ),
    recordStopDhcpError: assign(({ context, event }) =>
      errorSentence(msg.stopDhcpFailed(context.spec.name, why(event))),
    ),
    recordStopBeforeDeleteError: assign(({ context, event }) =>
      errorSentence(msg.stopBeforeDeleteFailed(context.spec.name, why(event))),
    ),
    recordDhcpWarning: assign(({ context, event }) => ({
      ...errorSentence(msg.dhcpFailed(context.spec.name, why(event))),
      dhcpWarning: true,
    })),
    clearDhcpWarning: assign({ lastError: null, dhcpWarning: false }),

    noteNetworkChange: assign(({ context, event }) => {
      if (event.type !== 'network.changed' || context.networkChanges.includes(event.parentInterface)) return {};
      return { networkChanges: [...context.networkChanges, event.parentInterface] };
    }),
    beginReattach: assign(({ context }) => ({ moving: context.networkChanges, networkChanges: [] })),
    /** A reattach cut short by a crash before its move finished: move again once the vPLC runs. */
    requeueMove: assign(({ context }) => ({
      networkChanges: [...new Set([...context.moving, ...context.networkChanges])],
    })),
    recordMoveResult: assign(({ context, event }) => {
      if (event.type !== 'xstate.done.actor.moveNetworks') return {};
      const { conflicts } = event.output;
      if (conflicts.length > 0) return { lastError: conflicts.join('; '), networkWarning: true, dhcpWarning: false };
      return context.networkWarning ? { lastError: null, networkWarning: false } : {};
    }),
    recordMoveFailure: assign(({ context, event }) => ({
      ...errorSentence(msg.networkMoveFailed(context.spec.name, context.moving, why(event))),
      networkWarning: true,
    })),

    recordContainer: assign(({ event }) =>
      event.type === 'xstate.done.actor.createContainer' ? { containerId: event.output.containerId } : {},
    ),
    clearRun: assign({ startedAt: null, pendingExit: null }),
    recordStart: assign(({ event }) =>
      event.type === 'xstate.done.actor.startContainer'
        ? { containerId: event.output.containerId, startedAt: event.output.startedAt }
        : {},
    ),
    recordExit: assign(({ event }) =>
      event.type === 'container.died'
        ? { pendingExit: { exitCode: event.exitCode, oomKilled: event.oomKilled, at: event.at, error: null } }
        : {},
    ),
    recordFailedRestartAttempt: assign(({ context, event }) => ({
      pendingExit: { ...noExit(context), error: msg.restartAttemptFailed(context.spec.name, why(event)) },
    })),
    noteContainerGone: assign({ containerGone: true }),
    forgetContainer: assign({ containerId: null, startedAt: null }),
    adoptStartedContainer: assign(({ event }) =>
      event.type === 'container.started'
        ? { containerId: event.containerId, startedAt: event.startedAt, desired: 'running' as const, failure: null }
        : {},
    ),
    /** The watchdog answers a crash: note it in the budget and pick the backoff. */
    scheduleRestart: assign(({ context }) => {
      const exit = context.pendingExit ?? noExit(context);
      const at = parseInstant(exit.at) ?? context.now();
      const attempt = backoffAttemptAfterCrash(context.backoffAttempt, parseInstant(context.startedAt), at);
      const delayMs = backoffMs(attempt, RESTART_BACKOFF, context.random);
      const restarts = [...restartsInWindow(context.restarts, at, context.budget), at];
      const { max, windowMs } = context.budget;
      return {
        restarts,
        backoffAttempt: attempt + 1,
        restartAt: context.now() + delayMs,
        restartCount: context.restartCount + 1,
        pendingExit: null,
        startedAt: null,
        ...errorSentence(
          exit.error ?? msg.crashRestarting(context.spec.name, exit, delayMs, restarts.length, max, windowMs),
        ),
      };
    }),
    giveUpRestarting: assign(({ context }) => {
      const exit = context.pendingExit ?? noExit(context);
      const { max, windowMs } = context.budget;
      return {
        failure: {
          reason: msg.restartBudgetExhausted(context.spec.name, exit, max, windowMs, exit.error),
          exitCode: exit.exitCode,
          oomKilled: exit.oomKilled,
          at: exit.at,
          operation: context.operation,
        },
      };
    }),
    clearRestartTimer: assign({ restartAt: null }),
    forgetInterrupts: assign({ pendingExit: null, containerGone: false, restartAt: null, networkChanges: [] }),
  },
});

/** A state node of this machine, as `vplcSetup.createStateConfig` accepts it. */
export type VplcStateConfig = Parameters<typeof vplcSetup.createStateConfig>[0];
type VplcTransition = Exclude<NonNullable<VplcStateConfig['always']>, string | readonly unknown[]>;
type Named<A> = A extends string
  ? A
  : A extends { type: infer K; params: infer P }
    ? { type: K; params: Exclude<P, (...args: never[]) => unknown> }
    : never;
/** One action a transition may list, by name (with static params where it takes some): never an inline function. */
export type VplcAction = Named<Exclude<NonNullable<VplcTransition['actions']>, readonly unknown[]>>;
/** One guard a transition may name. */
export type VplcGuard = Extract<NonNullable<VplcTransition['guard']>, string>;

import * as msg from './messages.js';
import type { VplcOperation } from './messages.js';
import { DEFAULT_RESTART_BUDGET, type RestartBudget } from './restartPolicy.js';
import type { VplcFact } from '../../model/facts.js';
import type { ContainerExit, VplcSpec } from '../../model/vplc.js';

/**
 * What the vPLC lifecycle machine knows, is told and tells: its input, context, events and emitted events,
 * and the context an actor starts with.
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

/** What others send a vPLC actor: the cloud's commands (through the supervisor) and facts about its container. */
export type VplcEvent = VplcCommandEvent | VplcFactEvent;

/** Emitted once per cloud operation when it ends (reached its goal, failed, or was superseded). */
export interface OperationEnded {
  type: 'operation.ended';
  operation: VplcOperation;
  success: boolean;
  error: string | null;
}

const ISO = (ms: number) => new Date(ms).toISOString();

/** The context a vPLC actor starts with: a new runtime, or what boot reconciliation found. */
export function initialContext({ input }: { input: VplcInput }): VplcContext {
  const initial = input.initial ?? 'creating';
  const now = input.now ?? Date.now;
  const found =
    initial === 'missing'
      ? msg.containerMissing(input.spec.name)
      : initial === 'failed'
        ? (input.failureReason ?? msg.internalFailure(input.spec.name, 'unknown'))
        : null;
  return {
    spec: input.spec,
    desired: initial === 'stopped' ? 'stopped' : 'running',
    operation: initial === 'creating' ? 'create' : null,
    deleteRequested: false,
    containerId: initial === 'missing' ? null : (input.containerId ?? null),
    startedAt: initial === 'running' ? (input.startedAt ?? null) : null,
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
      found === null ? null : { reason: found, exitCode: null, oomKilled: false, at: ISO(now()), operation: null },
    budget: input.budget ?? DEFAULT_RESTART_BUDGET,
    random: input.random ?? Math.random,
    now,
  };
}

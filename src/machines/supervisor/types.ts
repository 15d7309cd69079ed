import type { ActorRefFrom, DoneActorEvent, ErrorActorEvent } from 'xstate';
import type { VplcSpec } from '../../model/vplc.js';
import type { VplcCommandName } from '../vplc/messages.js';
import type { VplcFactEvent, vplcMachine } from '../vplc/machine.js';
import type { RestartBudget } from '../vplc/restartPolicy.js';
import type { Requester } from './admission.js';

/** The vPLC lifecycle, with its I/O steps provided (production: Docker; tests: fakes). */
export type VplcLogic = typeof vplcMachine;
export type VplcRef = ActorRefFrom<VplcLogic>;

export interface SupervisorInput {
  vplc: VplcLogic;
  budget: RestartBudget;
  /** The most vPLCs the cloud may have created (`--max-vplcs`); default DEFAULT_MAX_VPLCS. */
  maxVplcs?: number;
  random?: () => number;
  now?: () => number;
}

export type ObservedRuntime = {
  /** `failed`: the vPLC sat in failed before the agent restarted, and its container is not running. */
  state: 'running' | 'stopped' | 'missing' | 'failed';
  containerId: string | null;
  startedAt?: string | null;
  /** Why it failed (kept across agent restarts so the cloud still sees the reason). */
  failureReason?: string | null;
};

export type SupervisorEvent =
  | { type: 'vplc.create'; spec: VplcSpec; by: Requester }
  | { type: 'vplc.adopt'; spec: VplcSpec; observed: ObservedRuntime }
  | { type: 'vplc.command'; name: string; command: VplcCommandName; by: Requester }
  | { type: 'vplc.fact'; name: string; fact: VplcFactEvent }
  /** Boot reconciliation has given every runtime found an actor: the cloud's requests are taken from now on. */
  | { type: 'reconciliation.finished' }
  /** `delete_orchestrator` was accepted: no more creates, and the deletes of the remaining vPLCs go ahead. */
  | { type: 'selfDestruct.began' }
  /** The agent is shutting down: every vPLC actor stops with it. */
  | { type: 'agent.stopping' }
  /** A vPLC actor reached `deleted` (XState tells its parent, naming the actor by id). */
  | DoneActorEvent<unknown, string>
  /** A vPLC actor threw: a bug in its lifecycle, not a container crash. */
  | ErrorActorEvent<unknown, string>;

export type SupervisorEmitted =
  /** A vPLC actor now exists under this name (new, adopted or replacing a broken one). */
  | { type: 'vplc.spawned'; name: string; replacing: string | null }
  /** The vPLC was deleted and its actor is gone. */
  | { type: 'vplc.removed'; name: string };

export interface SupervisorContext {
  /**
   * The running vPLC actors by actor id (`vplcActorId(name)`). A Map, so a name that came from outside is only
   * ever a key: `constructor` or `__proto__` find nothing but a vPLC of that name. It is the one thing in
   * context changed in place: XState keeps its own children in an object it copies on every spawn, which
   * makes starting N vPLCs cost N² — these actors have the supervisor as parent (one system, one clock, and
   * their end is told to it) but are kept here instead.
   */
  vplcs: Map<string, VplcRef>;
  vplcLogic: VplcLogic;
  budget: RestartBudget;
  maxVplcs: number;
  random: (() => number) | undefined;
  now: (() => number) | undefined;
}

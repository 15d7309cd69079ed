import type { VplcOperation } from '../vplc/messages.js';

/**
 * The sentences for requests the supervisor refuses because of what the agent as a whole is doing (the vPLC's
 * own refusals are in `../vplc/messages.ts`). They reach the cloud like any refusal, so each says why and what
 * to do.
 */

const DOING: Record<VplcOperation, string> = {
  create: 'Creating',
  start: 'Starting',
  stop: 'Stopping',
  restart: 'Restarting',
  delete: 'Deleting',
};

/** Boot: the cloud link opens only after reconciliation, so this is a guard for a caller that came too early. */
export function stillReconciling(name: string, operation: VplcOperation): string {
  return `${DOING[operation]} ${name} is not possible yet: the agent has just started and is still taking over the runtimes it found; try again in a moment`;
}

export function selfDestructing(name: string, operation: VplcOperation): string {
  return operation === 'create'
    ? `${DOING.create} ${name} is not possible: delete_orchestrator is removing this agent and every runtime it manages; install the agent again to create runtimes on this host`
    : `${DOING[operation]} ${name} is not possible: delete_orchestrator is removing this agent and every runtime it manages, ${name} included`;
}

/** The cap on supervised vPLCs (`--max-vplcs`) is reached. */
export function atCapacity(name: string, supervised: number, max: number): string {
  return `Creating ${name} is not possible: this agent already supervises ${supervised} vPLCs and is configured for at most ${max} (--max-vplcs ${max}); delete a vPLC first, or start the agent with a larger --max-vplcs (or ORCH_MAX_VPLCS) if the host has the memory and CPU for more`;
}

export function shuttingDown(name: string): string {
  return `the agent is shutting down; ${name} cannot take commands now`;
}

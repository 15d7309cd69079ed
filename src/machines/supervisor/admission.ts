import type { VplcSnapshot } from '../vplc/machine.js';
import * as msg from '../vplc/messages.js';
import type { VplcCommandName, VplcOperation } from '../vplc/messages.js';
import * as agentMsg from './messages.js';

/**
 * Whether the supervisor takes a request, decided from what the agent is doing (the supervisor's state) and the
 * vPLC's snapshot alone (pure, synchronous), so the caller gets its answer at once and the machine acts only on
 * what was accepted.
 */

/** The supervisor's top-level state: what the agent as a whole is doing. */
export type SupervisorMode = 'reconciling' | 'serving' | 'selfDestructing' | 'stopped';

/**
 * Who asks. Boot reconciliation finishes the operations a crash interrupted (its own creates and commands) before
 * the cloud may ask anything; every other caller speaks for the cloud.
 */
export type Requester = 'cloud' | 'reconciliation';

export interface Asking {
  mode: SupervisorMode;
  by: Requester;
}

/** How many vPLCs are supervised now (in any state, deleting included: they hold their resources until gone). */
export interface Capacity {
  supervised: number;
  max: number;
}

export type Decision =
  /** `joined`: the same operation is already in progress; the request waits for it instead of starting another. */
  { accepted: true; operation: VplcOperation; joined: boolean } | { accepted: false; reason: string };

const OPERATION: Record<VplcCommandName, VplcOperation> = {
  START: 'start',
  STOP: 'stop',
  RESTART: 'restart',
  DELETE: 'delete',
};

export function operationOf(command: VplcCommandName): VplcOperation {
  return OPERATION[command];
}

/** Top-level state of a vPLC, e.g. `creating` for `{ creating: 'image' }`. */
export function phaseOf(value: unknown): string {
  return typeof value === 'string' ? value : Object.keys(value as object)[0]!;
}

/** The step inside the top-level state, or null at rest. */
export function stepOf(value: unknown): string | null {
  if (typeof value === 'string') return null;
  const inner = Object.values(value as object)[0];
  return typeof inner === 'string' ? inner : null;
}

/**
 * What the agent's state alone refuses: everything once it stops; the cloud's requests during boot
 * reconciliation; while self-destructing, everything but the deletes that carry it out.
 */
function refusedByMode(asking: Asking, name: string, operation: VplcOperation): Decision | null {
  switch (asking.mode) {
    case 'stopped':
      return refuse(agentMsg.shuttingDown(name));
    case 'reconciling':
      return asking.by === 'cloud' ? refuse(agentMsg.stillReconciling(name, operation)) : null;
    case 'selfDestructing':
      return operation === 'delete' ? null : refuse(agentMsg.selfDestructing(name, operation));
    case 'serving':
      return null;
  }
}

/**
 * A create: only for a name no vPLC has, whatever state that vPLC is in, and, for the cloud, only below the cap.
 * Reconciliation's creates are not counted against it: they resume a create that was admitted before the agent
 * restarted, and a lowered cap must not lose it.
 */
export function admitCreate(
  asking: Asking,
  name: string,
  existing: VplcSnapshot | undefined,
  capacity?: Capacity,
): Decision {
  const refused = refusedByMode(asking, name, 'create');
  if (refused) return refused;
  if (existing) return refuse(msg.alreadyExists(name, phaseOf(existing.value)));
  if (capacity && asking.by === 'cloud' && capacity.supervised >= capacity.max) {
    return refuse(agentMsg.atCapacity(name, capacity.supervised, capacity.max));
  }
  return { accepted: true, operation: 'create', joined: false };
}

/** START, STOP, RESTART or DELETE: what the vPLC can take in its current state. */
export function admitCommand(
  asking: Asking,
  name: string,
  command: VplcCommandName,
  vplc: VplcSnapshot | undefined,
): Decision {
  const operation = operationOf(command);
  const refused = refusedByMode(asking, name, operation);
  if (refused) return refused;
  if (!vplc) return refuse(msg.notFound(name));
  // The same command again while it is being carried out joins it: repeated clicks are harmless.
  if (vplc.status === 'active' && vplc.context.operation === operation)
    return { accepted: true, operation, joined: true };
  if (vplc.status !== 'active' || !vplc.can({ type: command })) {
    return refuse(
      msg.refusal(command, {
        name,
        phase: phaseOf(vplc.value),
        step: stepOf(vplc.value),
        deleteRequested: vplc.context.deleteRequested,
        failureReason: vplc.context.failure?.reason ?? null,
      }),
    );
  }
  return { accepted: true, operation, joined: false };
}

/**
 * An adoption (boot reconciliation taking over a runtime it found): null when it is taken, otherwise why not.
 * Only reconciliation adopts, and a runtime seen twice (in the labels and in the files) is adopted once.
 */
export function whyNotAdopt(mode: SupervisorMode, existing: VplcSnapshot | undefined): string | null {
  if (mode !== 'reconciling') return `adoptions are only taken during boot reconciliation (now ${mode})`;
  if (existing) return 'runtime already supervised; second adoption ignored';
  return null;
}

/** Whether the machine has something to do for an accepted decision (a joined one waits for the operation in progress). */
export function startsWork(decision: Decision): boolean {
  return decision.accepted && !decision.joined;
}

function refuse(reason: string): Decision {
  return { accepted: false, reason };
}

import type { VplcSnapshot } from '../vplc/machine.js';
import * as msg from '../vplc/messages.js';
import type { VplcCommandName, VplcOperation } from '../vplc/messages.js';

/**
 * Whether the supervisor takes a request, decided from the vPLC's snapshot alone (pure, synchronous), so the
 * caller gets its answer at once and the machine acts only on what was accepted.
 */
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

/** A create: only for a name no vPLC has, whatever state that vPLC is in. */
export function admitCreate(name: string, existing: VplcSnapshot | undefined): Decision {
  if (existing) return refuse(msg.alreadyExists(name, phaseOf(existing.value)));
  return { accepted: true, operation: 'create', joined: false };
}

/** START, STOP, RESTART or DELETE: what the vPLC can take in its current state. */
export function admitCommand(name: string, command: VplcCommandName, vplc: VplcSnapshot | undefined): Decision {
  if (!vplc) return refuse(msg.notFound(name));
  const operation = operationOf(command);
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

/** Whether the machine has something to do for an accepted decision (a joined one waits for the operation in progress). */
export function startsWork(decision: Decision): boolean {
  return decision.accepted && !decision.joined;
}

function refuse(reason: string): Decision {
  return { accepted: false, reason };
}

import { type AnyActorRef, createActor } from 'xstate';
import type { VplcSpec } from '../../model/vplc.js';
import type { VplcInput } from '../vplc/machine.js';
import * as msg from '../vplc/messages.js';
import type { ObservedRuntime, SupervisorContext, SupervisorEvent, VplcRef } from './types.js';

/** The actor id (and system id) of a vPLC: one per name, so there can never be two lifecycles for one name. */
export const vplcActorId = (name: string) => `vplc:${name}`;

export function vplcOf(context: Pick<SupervisorContext, 'vplcs'>, name: string): VplcRef | undefined {
  return context.vplcs.get(vplcActorId(name));
}

/** The vPLC actor a done or error event is about (XState names it by actor id), if it is one of ours. */
export function vplcThatEnded(context: Pick<SupervisorContext, 'vplcs'>, event: SupervisorEvent): VplcRef | undefined {
  return 'actorId' in event ? context.vplcs.get(event.actorId) : undefined;
}

/** Starts a vPLC actor with the supervisor as its parent and keeps it; nothing is copied. */
export function startVplc(context: SupervisorContext, parent: AnyActorRef, input: VplcInput): VplcRef {
  const id = vplcActorId(input.spec.name);
  const ref = createActor(context.vplcLogic, { id, systemId: id, parent, input });
  context.vplcs.set(id, ref);
  ref.start();
  return ref;
}

/** A new runtime from `create_new_runtime`. */
export function createdInput(context: SupervisorContext, spec: VplcSpec): VplcInput {
  return { spec, initial: 'creating', ...childSettings(context) };
}

/** A runtime boot reconciliation found, in the state Docker shows. */
export function adoptedInput(context: SupervisorContext, spec: VplcSpec, observed: ObservedRuntime): VplcInput {
  return {
    spec,
    initial: observed.state,
    containerId: observed.containerId,
    startedAt: observed.startedAt ?? null,
    ...(observed.failureReason ? { failureReason: observed.failureReason } : {}),
    ...childSettings(context),
  };
}

/** The stand-in for a vPLC actor that threw: the same runtime, in `failed`, saying why. */
export function replacementInput(context: SupervisorContext, broken: VplcRef, error: string): VplcInput {
  const last = broken.getSnapshot().context;
  return {
    spec: last.spec,
    initial: 'failed',
    containerId: last.containerId,
    failureReason: msg.internalFailure(last.spec.name, error),
    ...childSettings(context),
  };
}

function childSettings(context: SupervisorContext): Pick<VplcInput, 'budget' | 'random' | 'now'> {
  const settings: Pick<VplcInput, 'budget' | 'random' | 'now'> = { budget: context.budget };
  if (context.random) settings.random = context.random;
  if (context.now) settings.now = context.now;
  return settings;
}

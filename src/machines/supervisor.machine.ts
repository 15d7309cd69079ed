import { type ActorRefFrom, assign, enqueueActions, setup } from 'xstate';
import * as msg from './vplc/messages.js';
import type { VplcCommandName, VplcOperation } from './vplc/messages.js';
import { type VplcFactEvent, type VplcInput, vplcMachine } from './vplc/machine.js';
import type { RestartBudget } from './vplc/restartPolicy.js';
import type { VplcSpec } from '../model/vplc.js';
import { errorText } from '../model/errors.js';

/**
 * The root of the running system: one vPLC actor per runtime name, spawned as a child with the system id
 * `vplc:<name>`, so there can never be two lifecycles for one name.
 *
 * Every request is an event; its answer (accepted or refused, and why) is an emitted `reply` carrying the
 * request id, so a caller gets exactly one answer per request, synchronously, from the actor that decides.
 * A vPLC actor that throws (a bug) is replaced by a fresh one in `failed` with the error as its reason:
 * one broken lifecycle never takes the others, or the agent, down.
 */

export interface SupervisorInput {
  budget: RestartBudget;
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
  | { type: 'vplc.create'; requestId: number; spec: VplcSpec }
  | { type: 'vplc.adopt'; spec: VplcSpec; observed: ObservedRuntime }
  | { type: 'vplc.command'; requestId: number; name: string; command: VplcCommandName }
  | { type: 'vplc.fact'; name: string; fact: VplcFactEvent };

export type SupervisorEmitted =
  | { type: 'reply'; requestId: number; accepted: true; operation: VplcOperation; joined: boolean }
  | { type: 'reply'; requestId: number; accepted: false; reason: string }
  /** A vPLC actor now exists under this name (new, adopted or replacing a broken one). */
  | { type: 'vplc.spawned'; name: string; replacing: string | null }
  /** The vPLC was deleted and its actor is gone. */
  | { type: 'vplc.removed'; name: string };

const OPERATION: Record<VplcCommandName, VplcOperation> = {
  START: 'start',
  STOP: 'stop',
  RESTART: 'restart',
  DELETE: 'delete',
};

export function operationOf(command: VplcCommandName): VplcOperation {
  return OPERATION[command];
}

export const vplcActorId = (name: string) => `vplc:${name}`;
const DONE_PREFIX = 'xstate.done.actor.vplc:';
const ERROR_PREFIX = 'xstate.error.actor.vplc:';

export function phaseOf(value: unknown): string {
  return typeof value === 'string' ? value : Object.keys(value as object)[0]!;
}

export function stepOf(value: unknown): string | null {
  if (typeof value === 'string') return null;
  const inner = Object.values(value as object)[0];
  return typeof inner === 'string' ? inner : null;
}

type VplcRef = ActorRefFrom<typeof vplcMachine>;

export interface SupervisorContext {
  vplcs: Record<string, VplcRef>;
  budget: RestartBudget;
  random: (() => number) | undefined;
  now: (() => number) | undefined;
}

export const supervisorMachine = setup({
  types: {} as {
    context: SupervisorContext;
    events: SupervisorEvent;
    input: SupervisorInput;
    emitted: SupervisorEmitted;
  },
  actors: {
    vplc: vplcMachine,
  },
  actions: {
    spawnVplc: assign(({ context, spawn }, params: { name: string; input: VplcInput }) => ({
      vplcs: {
        ...context.vplcs,
        [params.name]: spawn('vplc', {
          id: vplcActorId(params.name),
          systemId: vplcActorId(params.name),
          input: params.input,
        }),
      },
    })),
    forgetDeletedVplc: enqueueActions(({ context, event, enqueue }) => {
      const type = (event as { type: string }).type;
      if (!type.startsWith(DONE_PREFIX)) return;
      const name = type.slice(DONE_PREFIX.length);
      if (!context.vplcs[name]) return;
      enqueue.stopChild(vplcActorId(name));
      enqueue.assign(({ context }) => ({ vplcs: without(context.vplcs, name) }));
      enqueue.emit({ type: 'vplc.removed', name });
    }),
    replaceBrokenVplc: enqueueActions(({ context, event, enqueue }) => {
      const type = (event as { type: string }).type;
      if (!type.startsWith(ERROR_PREFIX)) return;
      const name = type.slice(ERROR_PREFIX.length);
      const broken = context.vplcs[name];
      if (!broken) return;
      const last = broken.getSnapshot().context;
      const error = msg.errorText((event as { error?: unknown }).error);
      const input: VplcInput = {
        spec: last.spec,
        initial: 'failed',
        containerId: last.containerId,
        failureReason: msg.internalFailure(name, error),
        ...childSettings(context),
      };
      enqueue.stopChild(vplcActorId(name));
      enqueue.assign(({ context, spawn }) => ({
        vplcs: {
          ...context.vplcs,
          [name]: spawn('vplc', { id: vplcActorId(name), systemId: vplcActorId(name), input }),
        },
      }));
      enqueue.emit({ type: 'vplc.spawned', name, replacing: error });
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ vplcs: {}, budget: input.budget, random: input.random, now: input.now }),
  on: {
    'vplc.create': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const existing = context.vplcs[event.spec.name];
        if (existing) {
          const phase = phaseOf(existing.getSnapshot().value);
          enqueue.emit({
            type: 'reply',
            requestId: event.requestId,
            accepted: false,
            reason: msg.alreadyExists(event.spec.name, phase),
          });
          return;
        }
        const input: VplcInput = { spec: event.spec, initial: 'creating', ...childSettings(context) };
        enqueue.emit({ type: 'reply', requestId: event.requestId, accepted: true, operation: 'create', joined: false });
        enqueue({ type: 'spawnVplc', params: { name: event.spec.name, input } });
        enqueue.emit({ type: 'vplc.spawned', name: event.spec.name, replacing: null });
      }),
    },

    'vplc.adopt': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        // Boot reconciliation may see one runtime in both the labels and the files: the first one wins.
        if (context.vplcs[event.spec.name]) return;
        const input: VplcInput = {
          spec: event.spec,
          initial: event.observed.state,
          containerId: event.observed.containerId,
          startedAt: event.observed.startedAt ?? null,
          ...(event.observed.failureReason ? { failureReason: event.observed.failureReason } : {}),
          ...childSettings(context),
        };
        enqueue({ type: 'spawnVplc', params: { name: event.spec.name, input } });
        enqueue.emit({ type: 'vplc.spawned', name: event.spec.name, replacing: null });
      }),
    },

    'vplc.command': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const { requestId, name, command } = event;
        const ref = context.vplcs[name];
        if (!ref) {
          enqueue.emit({ type: 'reply', requestId, accepted: false, reason: msg.notFound(name) });
          return;
        }
        const snapshot = ref.getSnapshot();
        const operation = OPERATION[command];
        // The same command again while it is being carried out joins it: repeated clicks are harmless.
        if (snapshot.status === 'active' && snapshot.context.operation === operation) {
          enqueue.emit({ type: 'reply', requestId, accepted: true, operation, joined: true });
          return;
        }
        if (snapshot.status !== 'active' || !snapshot.can({ type: command })) {
          const reason = msg.refusal(command, {
            name,
            phase: phaseOf(snapshot.value),
            step: stepOf(snapshot.value),
            deleteRequested: snapshot.context.deleteRequested,
            failureReason: snapshot.context.failure?.reason ?? null,
          });
          enqueue.emit({ type: 'reply', requestId, accepted: false, reason });
          return;
        }
        enqueue.emit({ type: 'reply', requestId, accepted: true, operation, joined: false });
        enqueue.sendTo(ref, { type: command });
      }),
    },

    'vplc.fact': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const ref = context.vplcs[event.name];
        if (ref) enqueue.sendTo(ref, event.fact);
      }),
    },

    /** A vPLC reached `deleted`: forget it, so the name is free again. */
    'xstate.done.actor.*': { actions: 'forgetDeletedVplc' },
    /** A vPLC actor crashed (a bug, not a container crash): replace it by one in `failed` that says why. */
    'xstate.error.actor.*': { actions: 'replaceBrokenVplc' },
  },
});

function without(vplcs: Record<string, VplcRef>, name: string): Record<string, VplcRef> {
  const { [name]: _gone, ...rest } = vplcs;
  return rest;
}

function childSettings(context: SupervisorContext): Pick<VplcInput, 'budget' | 'random' | 'now'> {
  const settings: Pick<VplcInput, 'budget' | 'random' | 'now'> = { budget: context.budget };
  if (context.random) settings.random = context.random;
  if (context.now) settings.now = context.now;
  return settings;
}

export type SupervisorMachine = typeof supervisorMachine;

import { assertEvent, emit, enqueueActions, fromPromise, sendTo, setup } from 'xstate';
import { errorText } from '../vplc/messages.js';
import { admitCommand, admitCreate, type SupervisorMode, startsWork, whyNotAdopt } from './admission.js';
import { adoptedInput, createdInput, replacementInput, startVplc, vplcOf, vplcThatEnded } from './children.js';
import type { SupervisorContext, SupervisorEmitted, SupervisorEvent, SupervisorInput, VplcRef } from './types.js';

/**
 * The supervisor's vocabulary: which requests it takes (the guards ask the same pure admission functions the
 * `Supervisor` class asks to answer its caller) and what it does about them.
 */
export const supervisorSetup = setup({
  types: {} as {
    context: SupervisorContext;
    events: SupervisorEvent;
    input: SupervisorInput;
    emitted: SupervisorEmitted;
  },
  actors: {
    /**
     * The steps of `delete_orchestrator`, run while the supervisor is `selfDestructing` (the agent provides them:
     * actors/orchestrator/selfDestruct.ts). Given none, the state says so by failing instead of doing nothing.
     */
    selfDestructSequence: fromPromise<void>(async () => {
      throw new Error('self-destruct began without its steps: nothing was removed');
    }),
  },
  guards: {
    /** `mode`: the state whose transition asks (a guard does not see the state it is in). */
    admitsCreate: ({ context, event }, { mode }: { mode: SupervisorMode }) => {
      assertEvent(event, 'vplc.create');
      const asking = { mode, by: event.by };
      const capacity = { supervised: context.vplcs.size, max: context.maxVplcs };
      return startsWork(
        admitCreate(asking, event.spec.name, vplcOf(context, event.spec.name)?.getSnapshot(), capacity),
      );
    },
    admitsCommand: ({ context, event }, { mode }: { mode: SupervisorMode }) => {
      assertEvent(event, 'vplc.command');
      const asking = { mode, by: event.by };
      return startsWork(admitCommand(asking, event.name, event.command, vplcOf(context, event.name)?.getSnapshot()));
    },
    admitsAdoption: ({ context, event }, { mode }: { mode: SupervisorMode }) => {
      assertEvent(event, 'vplc.adopt');
      return whyNotAdopt(mode, vplcOf(context, event.spec.name)?.getSnapshot()) === null;
    },
    isSupervised: ({ context, event }) => {
      assertEvent(event, 'vplc.fact');
      return vplcOf(context, event.name) !== undefined;
    },
    vplcWasDeleted: ({ context, event }) => vplcThatEnded(context, event)?.getSnapshot().status === 'done',
    vplcThrew: ({ context, event }) => vplcThatEnded(context, event)?.getSnapshot().status === 'error',
  },
  actions: {
    startCreatedVplc: ({ context, event, self }) => {
      assertEvent(event, 'vplc.create');
      startVplc(context, self, createdInput(context, event.spec));
    },
    startAdoptedVplc: ({ context, event, self }) => {
      assertEvent(event, 'vplc.adopt');
      startVplc(context, self, adoptedInput(context, event.spec, event.observed));
    },
    announceSpawn: emit(({ event }): SupervisorEmitted => {
      assertEvent(event, ['vplc.create', 'vplc.adopt']);
      return { type: 'vplc.spawned', name: event.spec.name, replacing: null };
    }),
    sendCommand: sendTo(
      ({ context, event }): VplcRef => {
        assertEvent(event, 'vplc.command');
        return vplcOf(context, event.name)!;
      },
      ({ event }) => {
        assertEvent(event, 'vplc.command');
        return { type: event.command };
      },
    ),
    forwardFact: sendTo(
      ({ context, event }): VplcRef => {
        assertEvent(event, 'vplc.fact');
        return vplcOf(context, event.name)!;
      },
      ({ event }) => {
        assertEvent(event, 'vplc.fact');
        return event.fact;
      },
    ),
    /** Listed before `forgetEndedVplc`: the name is read from the actor while it is still kept. */
    announceRemoval: emit(({ context, event }): SupervisorEmitted => {
      const ended = vplcThatEnded(context, event)!;
      return { type: 'vplc.removed', name: ended.getSnapshot().context.spec.name };
    }),
    /** The vPLC reached `deleted`: its actor is forgotten, so the name is free again. */
    forgetEndedVplc: ({ context, event }) => {
      assertEvent(event, 'xstate.done.actor.*');
      context.vplcs.delete(event.actorId);
    },
    /** One broken lifecycle never takes the others, or the agent, down: the runtime stays supervised, failed. */
    replaceBrokenVplc: ({ context, event, self }) => {
      assertEvent(event, 'xstate.error.actor.*');
      const broken = context.vplcs.get(event.actorId)!;
      startVplc(context, self, replacementInput(context, broken, errorText(event.error)));
    },
    announceReplacement: emit(({ context, event }): SupervisorEmitted => {
      assertEvent(event, 'xstate.error.actor.*');
      const replacement = context.vplcs.get(event.actorId)!;
      return {
        type: 'vplc.spawned',
        name: replacement.getSnapshot().context.spec.name,
        replacing: errorText(event.error),
      };
    }),
    stopEveryVplc: enqueueActions(({ context, enqueue }) => {
      for (const ref of context.vplcs.values()) enqueue.stopChild(ref);
    }),
    forgetEveryVplc: ({ context }) => context.vplcs.clear(),
  },
});

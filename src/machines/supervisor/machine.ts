import { supervisorSetup } from './setup.js';

/**
 * The root of the running system: one vPLC actor per runtime name (see `children.ts`).
 *
 * A request is answered by the `Supervisor` class from the same pure admission functions the guards here
 * ask (`admission.ts`), so a caller gets exactly one answer per request, at once, and the machine acts only
 * on what was accepted. A vPLC actor that throws (a bug) is replaced by a fresh one in `failed` with the
 * error as its reason: one broken lifecycle never takes the others, or the agent, down.
 */
export const supervisorMachine = supervisorSetup.createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    vplcs: new Map(),
    vplcLogic: input.vplc,
    budget: input.budget,
    random: input.random,
    now: input.now,
  }),
  on: {
    'vplc.create': { guard: 'admitsCreate', actions: ['startCreatedVplc', 'announceSpawn'] },
    'vplc.adopt': { guard: 'isUnknownRuntime', actions: ['startAdoptedVplc', 'announceSpawn'] },
    'vplc.command': { guard: 'admitsCommand', actions: 'sendCommand' },
    'vplc.fact': { guard: 'isSupervised', actions: 'forwardFact' },
    'xstate.done.actor.*': { guard: 'vplcWasDeleted', actions: ['announceRemoval', 'forgetEndedVplc'] },
    'xstate.error.actor.*': { guard: 'vplcThrew', actions: ['replaceBrokenVplc', 'announceReplacement'] },
    'agent.stopping': { actions: ['stopEveryVplc', 'forgetEveryVplc'] },
  },
});

export type SupervisorMachine = typeof supervisorMachine;

import type { SnapshotFrom } from 'xstate';
import { DEFAULT_MAX_VPLCS } from '../../model/vplc.js';
import type { SupervisorMode } from './admission.js';
import { supervisorSetup } from './setup.js';

/**
 * The root of the running system, in the words of what the agent is doing:
 *
 * - `reconciling` (boot): every runtime found in Docker and the files is adopted, and the operations a crash
 *   interrupted are finished; the cloud's requests are refused (the cloud link opens only afterwards anyway).
 * - `serving`: the cloud creates and commands vPLCs.
 * - `selfDestructing`: `delete_orchestrator` is removing the agent: creates and START/STOP/RESTART are refused,
 *   the deletes of the remaining vPLCs are carried out. `working` runs the steps (every vPLC deleted through its
 *   own actor, then networks, sidecar, records, volume and the agent's own container); `finished` waits for the
 *   container to go; `failed` keeps refusing until the cloud runs `delete_orchestrator` again, which starts the
 *   steps over. It lasts until the agent is gone or restarted.
 * - `stopped`: the agent shut down, and every vPLC actor with it.
 *
 * One vPLC actor per runtime name (see `children.ts`). A request is answered by the `Supervisor` class from the
 * same pure admission functions the guards here ask (`admission.ts`), so a caller gets exactly one answer per
 * request, at once, and the machine acts only on what was accepted. A vPLC actor that throws (a bug) is
 * replaced by a fresh one in `failed` with the error as its reason: one broken lifecycle never takes the
 * others, or the agent, down.
 */

function create(mode: SupervisorMode) {
  return { guard: { type: 'admitsCreate', params: { mode } }, actions: ['startCreatedVplc', 'announceSpawn'] } as const;
}

function command(mode: SupervisorMode) {
  return { guard: { type: 'admitsCommand', params: { mode } }, actions: 'sendCommand' } as const;
}

export const supervisorMachine = supervisorSetup.createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    vplcs: new Map(),
    vplcLogic: input.vplc,
    budget: input.budget,
    maxVplcs: input.maxVplcs ?? DEFAULT_MAX_VPLCS,
    random: input.random,
    now: input.now,
  }),
  initial: 'reconciling',
  on: {
    'vplc.fact': { guard: 'isSupervised', actions: 'forwardFact' },
    'xstate.done.actor.*': { guard: 'vplcWasDeleted', actions: ['announceRemoval', 'forgetEndedVplc'] },
    'xstate.error.actor.*': { guard: 'vplcThrew', actions: ['replaceBrokenVplc', 'announceReplacement'] },
    'agent.stopping': { target: '.stopped' },
  },
  states: {
    reconciling: {
      on: {
        'vplc.adopt': {
          guard: { type: 'admitsAdoption', params: { mode: 'reconciling' } },
          actions: ['startAdoptedVplc', 'announceSpawn'],
        },
        'vplc.create': create('reconciling'),
        'vplc.command': command('reconciling'),
        'reconciliation.finished': { target: 'serving' },
        'selfDestruct.began': { target: 'selfDestructing' },
      },
    },
    serving: {
      on: {
        'vplc.create': create('serving'),
        'vplc.command': command('serving'),
        'selfDestruct.began': { target: 'selfDestructing' },
      },
    },
    selfDestructing: {
      initial: 'working',
      on: {
        'vplc.command': command('selfDestructing'),
      },
      states: {
        working: {
          invoke: { src: 'selfDestructSequence', onDone: 'finished', onError: 'failed' },
        },
        finished: {},
        failed: {
          on: { 'selfDestruct.began': { target: 'working' } },
        },
      },
    },
    stopped: {
      type: 'final',
      entry: ['stopEveryVplc', 'forgetEveryVplc'],
    },
  },
});

export type SupervisorMachine = typeof supervisorMachine;

/** What the agent as a whole is doing: the supervisor's top-level state, whatever step self-destruct is at. */
export function supervisorModeOf(value: SnapshotFrom<SupervisorMachine>['value']): SupervisorMode {
  return typeof value === 'string' ? value : 'selfDestructing';
}

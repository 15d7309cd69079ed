import { type DoneActorEvent, type ErrorActorEvent, fromPromise, type InputFrom, type OutputFrom } from 'xstate';
import type { VplcContext } from './context.js';
import type { NetworkMoveRequest, NetworkMoveResult, VplcOps } from './ports.js';
import type { VplcSpec } from '../../model/vplc.js';

/**
 * The I/O steps of the vPLC lifecycle and how each is invoked. The machine itself does no I/O.
 */

/** Each I/O step is one `VplcOps` operation run as a promise actor: the machine itself does no I/O. */
export function stepActors(ops: VplcOps) {
  return {
    prepare: fromPromise<void, VplcSpec>(({ input }) => ops.prepare(input)),
    createNetworks: fromPromise<void, VplcSpec>(({ input }) => ops.createNetworks(input)),
    createContainer: fromPromise<{ containerId: string }, VplcSpec>(({ input }) => ops.createContainer(input)),
    startContainer: fromPromise<{ containerId: string; startedAt: string }, string>(({ input }) =>
      ops.startContainer(input),
    ),
    attachAgent: fromPromise<void, string>(({ input }) => ops.attachAgent(input)),
    startDhcp: fromPromise<void, VplcSpec>(({ input }) => ops.startDhcp(input)),
    stopDhcp: fromPromise<void, VplcSpec>(({ input }) => ops.stopDhcp(input)),
    dedicateNic: fromPromise<void, VplcSpec>(({ input }) => ops.dedicateNic(input)),
    returnNic: fromPromise<void, VplcSpec>(({ input }) => ops.returnNic(input)),
    stopContainer: fromPromise<void, string>(({ input }) => ops.stopContainer(input)),
    removeContainer: fromPromise<void, string>(({ input }) => ops.removeContainer(input)),
    removeNetworks: fromPromise<void, VplcSpec>(({ input }) => ops.removeNetworks(input)),
    moveNetworks: fromPromise<NetworkMoveResult, NetworkMoveRequest>(({ input }) => ops.moveNetworks(input)),
  };
}

type StepActors = ReturnType<typeof stepActors>;
/** The name of an I/O step; it is also the id it is invoked under. */
export type VplcStep = keyof StepActors;

/** How an invoked step settles, as XState delivers it: done with that step's output, or failed. */
export type VplcStepEvent = {
  [K in VplcStep]: DoneActorEvent<OutputFrom<StepActors[K]>, K> | ErrorActorEvent<unknown, K>;
}[VplcStep];

function notProvided(op: string): never {
  throw new Error(`${op} was not provided`);
}

/** Until `provideVplcOps` binds real (or fake) operations, every step rejects and says which one is missing. */
export const unprovided: VplcOps = {
  prepare: async () => notProvided('prepare'),
  createNetworks: async () => notProvided('createNetworks'),
  createContainer: async () => notProvided('createContainer'),
  startContainer: async () => notProvided('startContainer'),
  attachAgent: async () => notProvided('attachAgent'),
  startDhcp: async () => notProvided('startDhcp'),
  stopDhcp: async () => notProvided('stopDhcp'),
  dedicateNic: async () => notProvided('dedicateNic'),
  returnNic: async () => notProvided('returnNic'),
  stopContainer: async () => notProvided('stopContainer'),
  removeContainer: async () => notProvided('removeContainer'),
  removeNetworks: async () => notProvided('removeNetworks'),
  moveNetworks: async () => notProvided('moveNetworks'),
};

type ContextArg = { context: VplcContext };
const specOf = ({ context }: ContextArg) => context.spec;
const nameOf = ({ context }: ContextArg) => context.spec.name;
const moveOf = ({ context }: ContextArg): NetworkMoveRequest => ({
  spec: context.spec,
  parentInterfaces: context.moving,
});

/** How each step is invoked: under its own name, with what it is given (the spec, the runtime's name, or a move). */
export const stepInvocations = {
  prepare: { id: 'prepare', src: 'prepare', input: specOf },
  createNetworks: { id: 'createNetworks', src: 'createNetworks', input: specOf },
  createContainer: { id: 'createContainer', src: 'createContainer', input: specOf },
  startContainer: { id: 'startContainer', src: 'startContainer', input: nameOf },
  attachAgent: { id: 'attachAgent', src: 'attachAgent', input: nameOf },
  startDhcp: { id: 'startDhcp', src: 'startDhcp', input: specOf },
  stopDhcp: { id: 'stopDhcp', src: 'stopDhcp', input: specOf },
  dedicateNic: { id: 'dedicateNic', src: 'dedicateNic', input: specOf },
  returnNic: { id: 'returnNic', src: 'returnNic', input: specOf },
  stopContainer: { id: 'stopContainer', src: 'stopContainer', input: nameOf },
  removeContainer: { id: 'removeContainer', src: 'removeContainer', input: nameOf },
  removeNetworks: { id: 'removeNetworks', src: 'removeNetworks', input: specOf },
  moveNetworks: { id: 'moveNetworks', src: 'moveNetworks', input: moveOf },
} as const satisfies { [K in VplcStep]: { id: K; src: K; input: (arg: ContextArg) => InputFrom<StepActors[K]> } };

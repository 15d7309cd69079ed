import { type ActorRefFrom, assign, fromCallback, fromPromise, setup } from 'xstate';
import { reconnectDelayMs } from './cloudLink.backoff.js';

/**
 * The agent's link to the cloud: connecting → online → (connection lost) → backingOff → connecting …
 *
 * While `online`, two actors run: `session` (watches the live connection and routes cloud topics) and
 * `heartbeat` (the 5 s heartbeat loop). Both are children of the `online` state, so leaving it stops
 * them: there is exactly one heartbeat loop per live connection and none while disconnected (D2).
 */

/** A live connection as the machine sees it: opaque, owned by the provided actors. */
export interface LinkSession {
  readonly id: string;
}

export interface CloudLinkInput {
  /** Source of jitter, [0, 1). Injected so tests and the model are deterministic. */
  random?: () => number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface CloudLinkContext {
  session: LinkSession | null;
  /** Consecutive failed attempts since the last successful connection. */
  attempt: number;
  /** Delay chosen for the current backoff, decided on entry so the delay itself stays pure. */
  retryInMs: number;
  lastError: string | null;
  random: () => number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export type CloudLinkEvent = { type: 'CONNECTION_LOST'; reason: string } | { type: 'RECONNECT_NOW' } | { type: 'STOP' };

export const cloudLinkMachine = setup({
  types: {} as {
    context: CloudLinkContext;
    events: CloudLinkEvent;
    input: CloudLinkInput;
  },
  actors: {
    connect: fromPromise<LinkSession, void>(async () => {
      throw new Error('connect was not provided');
    }),
    session: fromCallback<CloudLinkEvent, LinkSession>(() => {
      throw new Error('session was not provided');
    }),
    heartbeat: fromCallback<CloudLinkEvent, LinkSession>(() => {
      throw new Error('heartbeat was not provided');
    }),
  },
  delays: {
    reconnectDelay: ({ context }) => context.retryInMs,
  },
  actions: {
    chooseRetryDelay: assign({
      retryInMs: ({ context }) =>
        reconnectDelayMs(context.attempt, context.random, { baseMs: context.baseDelayMs, maxMs: context.maxDelayMs }),
    }),
  },
}).createMachine({
  id: 'cloudLink',
  context: ({ input }) => ({
    session: null,
    attempt: 0,
    retryInMs: 0,
    lastError: null,
    random: input.random ?? Math.random,
    baseDelayMs: input.baseDelayMs ?? 1_000,
    maxDelayMs: input.maxDelayMs ?? 30_000,
  }),
  initial: 'connecting',
  on: {
    STOP: '.stopped',
  },
  states: {
    connecting: {
      invoke: {
        src: 'connect',
        onDone: {
          target: 'online',
          actions: assign({
            session: ({ event }) => event.output,
            attempt: 0,
            lastError: null,
          }),
        },
        onError: {
          target: 'backingOff',
          actions: assign({
            lastError: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)),
          }),
        },
      },
    },
    online: {
      invoke: [
        { id: 'session', src: 'session', input: ({ context }) => context.session as LinkSession },
        { id: 'heartbeat', src: 'heartbeat', input: ({ context }) => context.session as LinkSession },
      ],
      on: {
        CONNECTION_LOST: {
          target: 'backingOff',
          actions: assign({ lastError: ({ event }) => `connection lost: ${event.reason}` }),
        },
      },
      exit: assign({ session: null }),
    },
    backingOff: {
      entry: 'chooseRetryDelay',
      exit: assign({ attempt: ({ context }) => context.attempt + 1 }),
      after: {
        reconnectDelay: 'connecting',
      },
      on: {
        RECONNECT_NOW: 'connecting',
      },
    },
    stopped: {
      type: 'final',
    },
  },
});

export type CloudLinkActor = ActorRefFrom<typeof cloudLinkMachine>;

import { type ActorRefFrom, assign, fromCallback, fromPromise, setup } from 'xstate';
import { backoffMs, RECONNECT_BACKOFF } from '../model/backoff.js';
import { errorText } from '../model/errors.js';

/**
 * A long-lived link to a peer — the cloud (Socket.IO) or the network-monitor sidecar (Unix socket):
 * connecting → online → (connection lost) → backingOff → connecting …
 *
 * While `online`, one `session` actor runs: it owns the live connection and everything tied to it
 * (for the cloud, the topic routing and the heartbeat loop). It is a child of the `online` state, so
 * leaving that state stops it: exactly one heartbeat loop per live connection, none while
 * disconnected (the old agent's loops outlived their connection and doubled heartbeats), and no stale
 * connection is ever used again.
 */

/** A live connection as the machine sees it: opaque, owned by the provided actors. */
export interface LinkSession {
  readonly id: string;
}

export interface LinkInput {
  /** Source of jitter, [0, 1). Injected so tests and the model are deterministic. */
  random?: () => number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface LinkContext {
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

export type LinkEvent = { type: 'CONNECTION_LOST'; reason: string } | { type: 'RECONNECT_NOW' } | { type: 'STOP' };

export const linkMachine = setup({
  types: {} as {
    context: LinkContext;
    events: LinkEvent;
    input: LinkInput;
  },
  actors: {
    connect: fromPromise<LinkSession, void>(async () => {
      throw new Error('connect was not provided');
    }),
    session: fromCallback<LinkEvent, LinkSession>(() => {
      throw new Error('session was not provided');
    }),
  },
  delays: {
    reconnectDelay: ({ context }) => context.retryInMs,
  },
  actions: {
    chooseRetryDelay: assign({
      retryInMs: ({ context }) =>
        backoffMs(
          context.attempt,
          { ...RECONNECT_BACKOFF, baseMs: context.baseDelayMs, maxMs: context.maxDelayMs },
          context.random,
        ),
    }),
  },
}).createMachine({
  id: 'link',
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
            lastError: ({ event }) => errorText(event.error),
          }),
        },
      },
    },
    online: {
      invoke: { id: 'session', src: 'session', input: ({ context }) => context.session as LinkSession },
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

export type LinkActor = ActorRefFrom<typeof linkMachine>;

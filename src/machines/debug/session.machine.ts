import { assign, emit, fromPromise, setup } from 'xstate';

/**
 * One WebRTC debug session of one vPLC (docs/protocol.md#webrtc-sessions), in the words of what it is doing:
 *
 * - `negotiating`: the browser's offer is being answered (`answer`), then ICE and DTLS connect;
 * - `connected`: the peer connection is up; the `data` and `debug` channels carry messages;
 * - `closing`: the peer connection (and the runtime debug connection, if any) is being closed (`hangUp`);
 * - `closed`: over, with the reason.
 *
 * Every way out of a session leads through `closing`: the cloud's `webrtc:disconnect` or a new offer with the same
 * session id (`CLOSE`), the peer failing or closing, 300 s without activity (the old agent's idle rule, here timed per
 * session instead of by a 60 s sweep), and the vPLC stopping or being deleted (`vplc.gone`).
 */

export type CloseReason =
  | 'client_requested'
  | 'replaced'
  | 'connection_failed'
  | 'connection_closed'
  | 'timeout'
  | 'error'
  | 'vplc_stopped'
  | 'vplc_deleted'
  | 'agent_stopping';

export interface SessionContext {
  sessionId: string;
  vplc: string;
  reason: CloseReason | null;
  /** Why negotiating failed, when it did. */
  error: string | null;
}

export type SessionEvent =
  | { type: 'peer.connected' }
  | { type: 'peer.failed' }
  | { type: 'peer.closed' }
  /** A message on a channel, a channel opened, an ICE candidate: the session is in use. */
  | { type: 'activity' }
  | { type: 'CLOSE'; reason: CloseReason }
  | { type: 'vplc.gone'; reason: 'vplc_stopped' | 'vplc_deleted' };

export type SessionEmitted =
  | { type: 'answered'; sdp: string }
  | { type: 'negotiation.failed'; error: string }
  | { type: 'closed'; reason: CloseReason };

/** Idle time after which a session is closed (the old agent's 300 s). */
export const SESSION_IDLE_TIMEOUT_MS = 300_000;
/** How long hanging up may take before the session counts as closed anyway. */
export const HANG_UP_TIMEOUT_MS = 5_000;

export const sessionSetup = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    emitted: {} as SessionEmitted,
    input: {} as { sessionId: string; vplc: string },
  },
  actors: {
    /** Answers the offer; resolves with the answer SDP. */
    answer: fromPromise<string>(async () => {
      throw new Error('answer is provided by the actors layer');
    }),
    /** Closes the channels, the runtime connection and the peer connection. */
    hangUp: fromPromise<void, { reason: CloseReason }>(async () => {}),
  },
  actions: {
    announceAnswer: emit(({ event }) => ({
      type: 'answered' as const,
      sdp: (event as unknown as { output: string }).output,
    })),
    announceFailure: emit(({ context }) => ({
      type: 'negotiation.failed' as const,
      error: context.error ?? 'unknown',
    })),
    announceClosed: emit(({ context }) => ({ type: 'closed' as const, reason: context.reason ?? 'error' })),
    recordReason: assign({ reason: (_, params: { reason: CloseReason }) => params.reason }),
    recordError: assign({
      reason: () => 'error' as const,
      error: ({ event }) => {
        const err = (event as unknown as { error: unknown }).error;
        return err instanceof Error ? err.message : String(err);
      },
    }),
  },
  delays: {
    idleTimeout: SESSION_IDLE_TIMEOUT_MS,
    hangUpTimeout: HANG_UP_TIMEOUT_MS,
  },
});

/** The transitions out of a live session (negotiating or connected), each with the reason it records. */
const endings = {
  'peer.failed': { target: 'closing', actions: { type: 'recordReason', params: { reason: 'connection_failed' } } },
  'peer.closed': { target: 'closing', actions: { type: 'recordReason', params: { reason: 'connection_closed' } } },
  CLOSE: {
    target: 'closing',
    actions: {
      type: 'recordReason',
      params: ({ event }: { event: { reason: CloseReason } }) => ({ reason: event.reason }),
    },
  },
  'vplc.gone': {
    target: 'closing',
    actions: {
      type: 'recordReason',
      params: ({ event }: { event: { reason: CloseReason } }) => ({ reason: event.reason }),
    },
  },
} as const;

export const sessionMachine = sessionSetup.createMachine({
  id: 'debugSession',
  context: ({ input }) => ({ sessionId: input.sessionId, vplc: input.vplc, reason: null, error: null }),
  initial: 'negotiating',
  states: {
    negotiating: {
      initial: 'answering',
      states: {
        answering: {
          invoke: {
            id: 'answer',
            src: 'answer',
            onDone: { target: 'connecting', actions: 'announceAnswer' },
            onError: { target: '#debugSession.closing', actions: ['recordError', 'announceFailure'] },
          },
        },
        connecting: {
          on: { 'peer.connected': { target: '#debugSession.connected' } },
        },
      },
      on: endings,
      // Negotiation gets the idle time too; activity during it does not extend it.
      after: {
        idleTimeout: { target: 'closing', actions: { type: 'recordReason', params: { reason: 'timeout' } } },
      },
    },
    connected: {
      on: {
        ...endings,
        // Re-entering restarts the idle timer.
        activity: { target: 'connected', reenter: true },
      },
      after: {
        idleTimeout: { target: 'closing', actions: { type: 'recordReason', params: { reason: 'timeout' } } },
      },
    },
    closing: {
      invoke: {
        id: 'hangUp',
        src: 'hangUp',
        input: ({ context }) => ({ reason: context.reason ?? 'error' }),
        onDone: { target: 'closed' },
        onError: { target: 'closed' },
      },
      after: { hangUpTimeout: { target: 'closed' } },
    },
    closed: {
      type: 'final',
      entry: 'announceClosed',
    },
  },
});

export type SessionMachine = typeof sessionMachine;

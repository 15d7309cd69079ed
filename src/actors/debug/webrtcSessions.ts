/**
 * The WebRTC debug sessions of the agent (docs/protocol.md#webrtc-sessions): the signalling topics `webrtc:offer`,
 * `webrtc:ice` and `webrtc:disconnect` land here, each session is a `debugSession` actor (machines/debug) for the
 * vPLC its offer named, and it ends when that vPLC stops or is deleted (`observe`, fed by the supervisor's changes).
 *
 * Bounded where the old agent was not: at most `perVplc` sessions per vPLC and `total` per host (a flood of offers
 * is refused, never queued), offers and candidates of bounded size, and every session times out when idle.
 */
import type { Logger } from 'pino';
import { type Actor, createActor, fromPromise } from 'xstate';
import type { Emit } from '../../io/cloud/router.js';
import type {
  WebrtcDisconnectRequest,
  WebrtcDisconnectResult,
  WebrtcIceRequest,
  WebrtcIceResult,
  WebrtcOfferRequest,
  WebrtcOfferResult,
} from '../../io/cloud/topics/index.js';
import { answerOffer, type AnsweringPeer, type PeerOptions } from '../../io/webrtc/peer.js';
import { echo, truncate } from '../../model/echo.js';
import { errorText } from '../../model/errors.js';
import { type CloseReason, type SessionMachine, sessionMachine } from '../../machines/debug/session.machine.js';
import type { VplcStatus } from '../vplc/supervisor.js';
import { type ChannelHandler, dataChannel, debugChannel, type RunCommandOnChannel } from './channels.js';
import type { RuntimeLinks } from './runtimeLinks.js';

/** Longest offer SDP taken: a data-channel-only offer is about 1 KB; 64 KiB leaves room for many candidates. */
export const MAX_SDP_CHARS = 65_536;
export const MAX_CANDIDATE_CHARS = 2_048;
export const MAX_SESSION_ID_CHARS = 128;
/** How long the association stays up after the channels closed (see hangUp). */
const CLOSE_LINGER_MS = 250;
/** Sessions whose close is remembered, so ICE for them says why it is refused. */
const REMEMBERED_CLOSED = 256;

const REASON_TEXT: Record<CloseReason, string> = {
  client_requested: 'closed at the request of the cloud',
  replaced: 'replaced by a new offer with the same session id',
  connection_failed: 'the peer connection failed',
  connection_closed: 'the peer connection closed',
  timeout: 'no activity for 300 s',
  error: 'negotiation failed',
  vplc_stopped: 'its vPLC stopped',
  vplc_deleted: 'its vPLC was deleted',
  agent_stopping: 'the agent is stopping',
};

export interface WebrtcSessionsOptions {
  peer: Omit<PeerOptions, 'log'>;
  limits: { perVplc: number; total: number };
  /** Where a vPLC stands (undefined: not one of this agent's). */
  status: (vplc: string) => VplcStatus | undefined;
  /** run_command as the cloud topic answers it (with its envelope). */
  runCommand: RunCommandOnChannel;
  links: RuntimeLinks;
  allowedPorts: readonly number[];
  /** Largest chunked message the data channel reassembles, in characters. */
  maxTransferChars: number;
  log: Logger;
  /** Replaces the machine's named delays (tests). */
  delays?: Partial<Record<'idleTimeout' | 'hangUpTimeout', number>>;
}

interface Session {
  id: string;
  vplc: string;
  actor: Actor<SessionMachine>;
  peer: AnsweringPeer | null;
  channels: ChannelHandler[];
  closed: Promise<CloseReason>;
}

export class WebrtcSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly recentlyClosed = new Map<string, CloseReason>();
  private stopped = false;

  constructor(private readonly opts: WebrtcSessionsOptions) {}

  count(vplc?: string): number {
    if (vplc === undefined) return this.sessions.size;
    let n = 0;
    for (const s of this.sessions.values()) if (s.vplc === vplc) n++;
    return n;
  }

  /** The state of a session (tests, status). */
  stateOf(sessionId: string): string | undefined {
    const s = this.sessions.get(sessionId);
    if (!s) return undefined;
    const value = s.actor.getSnapshot().value;
    return typeof value === 'string' ? value : Object.keys(value)[0];
  }

  async offer(req: WebrtcOfferRequest, emit: Emit): Promise<WebrtcOfferResult> {
    const sid = req.session_id;
    const refuse = (error: string): WebrtcOfferResult => ({ status: 'error', error, session_id: sid });
    if (sid.length === 0 || sid.length > MAX_SESSION_ID_CHARS) {
      return refuse(`session_id must be 1 to ${MAX_SESSION_ID_CHARS} characters long`);
    }
    if (this.stopped) return refuse('The agent is stopping; send the offer again once it is back');
    const status = this.opts.status(req.device_id);
    if (!status || status.phase === 'deleted') return refuse(`Device ${truncate(req.device_id)} not found`);
    if (status.phase !== 'running') {
      return refuse(
        `${truncate(req.device_id)} is ${status.state}, not running: start it, then open the debug session again`,
      );
    }
    if (req.sdp_type !== 'offer') {
      return refuse(`sdp_type must be "offer" (the browser offers, the agent answers), got ${echo(req.sdp_type, 32)}`);
    }
    if (req.sdp.length > MAX_SDP_CHARS) return refuse(`The offer SDP is longer than ${MAX_SDP_CHARS} characters`);
    if (!/^v=0\r?\n/.test(req.sdp) || !/^m=application /m.test(req.sdp)) {
      return refuse('Malformed SDP: the offer must be a session description (v=0) with a data channel (m=application)');
    }
    // A new offer with the same id replaces the session (the old agent's rule).
    const previous = this.sessions.get(sid);
    if (previous) await this.close(previous, 'replaced');
    const { perVplc, total } = this.opts.limits;
    if (this.count(req.device_id) >= perVplc) {
      return refuse(
        `${truncate(req.device_id)} already has ${perVplc} WebRTC debug sessions, the most per vPLC (--debug-max-sessions-per-vplc); close one first`,
      );
    }
    if (this.count() >= total) {
      return refuse(
        `The agent already holds ${total} WebRTC debug sessions, its limit for the host (--debug-max-sessions-per-host); close one first`,
      );
    }
    return this.start(sid, req.device_id, req.sdp, emit);
  }

  private start(sid: string, vplc: string, sdp: string, emit: Emit): Promise<WebrtcOfferResult> {
    const log = this.opts.log.child({ vplc, session_id: truncate(sid, 64) });
    let session!: Session;
    const machine = sessionMachine.provide({
      actors: {
        answer: fromPromise(async () => {
          const peer = await answerOffer({ sdp, type: 'offer' }, { ...this.opts.peer, log });
          session.peer = peer;
          this.wire(session, peer, emit, log);
          return peer.answer;
        }),
        hangUp: fromPromise(async ({ input }) => this.hangUp(session, input.reason, log)),
      },
      ...(this.opts.delays ? { delays: this.opts.delays } : {}),
    });
    const actor = createActor(machine, { input: { sessionId: sid, vplc } });
    let markClosed!: (reason: CloseReason) => void;
    session = {
      id: sid,
      vplc,
      actor,
      peer: null,
      channels: [],
      closed: new Promise((resolve) => {
        markClosed = resolve;
      }),
    };
    this.sessions.set(sid, session);
    log.info({ step: 'webrtc.offer' }, 'answering a WebRTC offer');

    const result = new Promise<WebrtcOfferResult>((resolve) => {
      actor.on('answered', (e) => {
        log.info({ step: 'webrtc.answered' }, 'WebRTC answer made');
        resolve({ status: 'success', session_id: sid, sdp: e.sdp, sdp_type: 'answer' });
      });
      actor.on('negotiation.failed', (e) =>
        resolve({ status: 'error', error: negotiationError(e.error), session_id: sid }),
      );
      actor.on('closed', (e) => {
        if (this.sessions.get(sid) === session) {
          this.sessions.delete(sid);
          this.remember(sid, e.reason);
        }
        log.info({ step: 'webrtc.closed', reason: e.reason }, 'WebRTC session closed');
        markClosed(e.reason);
        resolve({
          status: 'error',
          error: `Session ${sid} closed before it was answered: ${REASON_TEXT[e.reason]}`,
          session_id: sid,
        });
      });
    });
    actor.subscribe({
      next: (snapshot) => log.debug({ state: snapshot.value }, 'WebRTC session state'),
      error: (err) => log.error({ err: errorText(err) }, 'WebRTC session actor failed'),
    });
    actor.start();
    return result;
  }

  private wire(session: Session, peer: AnsweringPeer, emit: Emit, log: Logger): void {
    const { actor } = session;
    const activity = () => actor.send({ type: 'activity' });
    peer.onState((state) => {
      log.debug({ peer_state: state }, 'peer connection state');
      if (state === 'connected') actor.send({ type: 'peer.connected' });
      if (state === 'failed') actor.send({ type: 'peer.failed' });
      if (state === 'closed') actor.send({ type: 'peer.closed' });
    });
    peer.onLocalCandidate((c) =>
      emit('webrtc:ice', {
        session_id: session.id,
        candidate: c.candidate,
        sdp_mid: c.sdpMid,
        sdp_mline_index: c.sdpMLineIndex,
      }),
    );
    const ctx = { sessionId: session.id, vplc: session.vplc, log, activity };
    peer.onChannel((channel) => {
      if (session.channels.length >= 8) {
        log.warn({ label: truncate(channel.label, 64) }, 'more channels than a debug session uses; closed');
        channel.close();
        return;
      }
      activity();
      if (channel.label === 'data') {
        session.channels.push(
          dataChannel(channel, ctx, { runCommand: this.opts.runCommand, maxTransferChars: this.opts.maxTransferChars }),
        );
      } else if (channel.label === 'debug') {
        session.channels.push(
          debugChannel(channel, ctx, { links: this.opts.links, allowedPorts: this.opts.allowedPorts }),
        );
      } else {
        log.warn({ label: truncate(channel.label, 64) }, 'data channel with an unknown label ignored');
      }
    });
  }

  private async hangUp(session: Session, reason: CloseReason, log: Logger): Promise<void> {
    log.info({ step: 'webrtc.closing', reason }, 'closing WebRTC session');
    const goodbye = { reason, message: `The debug session of ${session.vplc} ended: ${REASON_TEXT[reason]}` };
    // One after the other: werift queues a second stream reset behind the first, and closing the peer connection
    // drops what is queued, which would leave the browser's second channel in `closing`.
    for (const channel of session.channels) await channel.close(goodbye).catch(() => {});
    // The browser answers our stream reset with its own, which needs the association a moment longer; closing at
    // once leaves its last channel in `closing` until ICE gives up.
    if (session.channels.length > 0) await new Promise((resolve) => setTimeout(resolve, CLOSE_LINGER_MS));
    await session.peer?.close();
  }

  private remember(sid: string, reason: CloseReason): void {
    this.recentlyClosed.delete(sid);
    this.recentlyClosed.set(sid, reason);
    if (this.recentlyClosed.size > REMEMBERED_CLOSED) {
      this.recentlyClosed.delete(this.recentlyClosed.keys().next().value as string);
    }
  }

  private notFound(sid: string): string {
    const reason = this.recentlyClosed.get(sid);
    return reason ? `Session ${sid} not found (it was closed: ${REASON_TEXT[reason]})` : `Session ${sid} not found`;
  }

  private close(session: Session, reason: CloseReason): Promise<CloseReason> {
    if (this.sessions.get(session.id) === session) {
      this.sessions.delete(session.id);
      this.remember(session.id, reason);
    }
    session.actor.send({ type: 'CLOSE', reason });
    return session.closed;
  }

  async ice(req: WebrtcIceRequest): Promise<WebrtcIceResult> {
    const sid = req.session_id;
    const session = this.sessions.get(sid);
    if (!session) return { status: 'error', error: this.notFound(truncate(sid)), session_id: sid };
    const candidate = req.candidate;
    if (candidate === undefined || candidate === null || candidate === '') {
      return { status: 'success', session_id: sid, message: 'End of candidates acknowledged' };
    }
    if (candidate.length > MAX_CANDIDATE_CHARS) {
      return {
        status: 'error',
        error: `The ICE candidate is longer than ${MAX_CANDIDATE_CHARS} characters`,
        session_id: sid,
      };
    }
    if (!session.peer) {
      return {
        status: 'error',
        error: `Session ${sid} is still answering its offer; send the candidate again in a moment`,
        session_id: sid,
      };
    }
    try {
      session.actor.send({ type: 'activity' });
      await session.peer.addRemoteCandidate({
        candidate:
          candidate.startsWith('candidate:') || candidate.startsWith('a=') ? candidate.replace(/^a=/, '') : candidate,
        sdpMid: req.sdp_mid ?? null,
        sdpMLineIndex: req.sdp_mline_index ?? null,
      });
      return { status: 'success', session_id: sid };
    } catch (err) {
      return {
        status: 'error',
        error: `The ICE candidate could not be used: ${truncate(errorText(err))}`,
        session_id: sid,
      };
    }
  }

  async disconnect(req: WebrtcDisconnectRequest): Promise<WebrtcDisconnectResult> {
    const sid = req.session_id;
    const session = this.sessions.get(sid);
    if (!session) return { status: 'warning', session_id: sid, message: 'Session not found (may already be closed)' };
    this.opts.log.info(
      { vplc: session.vplc, session_id: truncate(sid, 64), reason: truncate(req.reason ?? 'client requested') },
      'webrtc:disconnect',
    );
    await this.close(session, 'client_requested');
    return { status: 'success', session_id: sid, message: 'Session closed' };
  }

  /** Follows the supervisor: a vPLC that stops or is deleted takes its sessions with it. */
  observe(status: VplcStatus): void {
    if (status.phase === 'running') return;
    const reason = status.phase === 'deleting' || status.phase === 'deleted' ? 'vplc_deleted' : 'vplc_stopped';
    for (const s of [...this.sessions.values()]) {
      if (s.vplc !== status.name) continue;
      if (this.sessions.get(s.id) === s) {
        this.sessions.delete(s.id);
        this.remember(s.id, reason);
      }
      s.actor.send({ type: 'vplc.gone', reason });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.sessions.values()].map((s) => this.close(s, 'agent_stopping')));
  }
}

function negotiationError(error: string): string {
  return `The WebRTC offer could not be answered: ${truncate(error, 500)}. Check that the browser sent an SDP offer with a data channel`;
}

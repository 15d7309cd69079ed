/**
 * The agent's side of one WebRTC peer connection: it answers the browser's offer (the browser creates the `data` and
 * `debug` channels), with werift, a WebRTC stack written in TypeScript: it installs from the npm registry without
 * native builds or binary downloads (docs/decisions.md#webrtc-library). werift costs about 33 MB of memory once
 * loaded, so it is imported when the first session starts, never at agent start.
 */
import type { Logger } from 'pino';
import { errorText } from '../../model/errors.js';

export interface IceServer {
  urls: string;
  username?: string;
  credential?: string;
}

export interface PeerOptions {
  iceServers: IceServer[];
  /** Only these local addresses give host candidates (e.g. 127.0.0.1); null: every address of the host. */
  hostAddresses: string[] | null;
  /** How long the answer waits for candidate gathering; later candidates go out as `webrtc:ice` events. */
  gatherTimeoutMs: number;
  log: Logger;
}

/** One data channel the browser opened, as the session handlers see it. */
export interface Channel {
  readonly label: string;
  readonly isOpen: boolean;
  /** Bytes queued for sending. */
  readonly bufferedAmount: number;
  send(text: string): void;
  close(): void;
  onOpen(listener: () => void): void;
  onMessage(listener: (text: string) => void): void;
  onClose(listener: () => void): void;
  /** Resolves once the send queue is below `threshold` bytes (or the channel closed). */
  drained(threshold: number): Promise<void>;
  /**
   * Sends what is queued (within `timeoutMs`), then closes the channel with a stream reset, so the browser sees it
   * closed, and resolves once it is (or the time is up): closing the peer connection at once would lose both.
   */
  closeGracefully(timeoutMs: number): Promise<void>;
}

export type PeerState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export interface LocalCandidate {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}

export interface AnsweringPeer {
  /** The answer SDP, with the candidates gathered so far. */
  readonly answer: string;
  onState(listener: (state: PeerState) => void): void;
  onChannel(listener: (channel: Channel) => void): void;
  /** Candidates found after the answer was made. */
  onLocalCandidate(listener: (candidate: LocalCandidate) => void): void;
  addRemoteCandidate(candidate: {
    candidate: string;
    sdpMid: string | null;
    sdpMLineIndex: number | null;
  }): Promise<void>;
  close(): Promise<void>;
}

type Werift = typeof import('werift');
let werift: Promise<Werift> | null = null;
function loadWerift(): Promise<Werift> {
  werift ??= import('werift');
  return werift;
}

/** Keeps only candidate lines whose address is allowed (when a list is given). */
export function filterCandidates(sdp: string, allowed: string[] | null): string {
  if (!allowed) return sdp;
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || allowed.includes(line.split(' ')[4] ?? ''))
    .join('\r\n');
}

/**
 * Sets the browser's offer, makes the answer and waits (bounded) for candidate gathering. Rejects with the stack's
 * own reason when the offer cannot be used; the peer connection is closed then.
 */
export async function answerOffer(offer: { sdp: string; type: 'offer' }, opts: PeerOptions): Promise<AnsweringPeer> {
  const { RTCPeerConnection } = await loadWerift();
  const allowed = opts.hostAddresses;
  const pc = new RTCPeerConnection({
    iceServers: opts.iceServers,
    iceUseIpv6: false,
    ...(allowed
      ? {
          iceAdditionalHostAddresses: allowed,
          iceFilterCandidatePair: (pair: { localCandidate: { host: string } }) =>
            allowed.includes(pair.localCandidate.host),
        }
      : {}),
  });
  const stateListeners = new Set<(state: PeerState) => void>();
  const channelListeners = new Set<(channel: Channel) => void>();
  const candidateListeners = new Set<(c: LocalCandidate) => void>();
  let answered = false;
  const early: Channel[] = [];
  pc.connectionStateChange.subscribe((state) => {
    for (const l of stateListeners) l(state);
  });
  pc.onDataChannel.subscribe((dc) => {
    const channel = wrapChannel(dc, opts.log);
    if (channelListeners.size === 0) early.push(channel);
    for (const l of channelListeners) l(channel);
  });
  pc.onIceCandidate.subscribe((c) => {
    if (!answered || !c?.candidate) return;
    const host = c.candidate.split(' ')[4] ?? '';
    if (allowed && !allowed.includes(host)) return;
    const out = { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null };
    for (const l of candidateListeners) l(out);
  });
  try {
    await pc.setRemoteDescription({ type: offer.type, sdp: offer.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc, opts.gatherTimeoutMs);
  } catch (err) {
    await pc.close().catch(() => {});
    throw new Error(`the offer could not be answered: ${errorText(err)}`);
  }
  answered = true;
  const sdp = pc.localDescription?.sdp;
  if (!sdp) {
    await pc.close().catch(() => {});
    throw new Error('the offer could not be answered: the WebRTC stack made no answer');
  }
  let closing: Promise<void> | null = null;
  return {
    answer: filterCandidates(sdp, allowed),
    onState: (l) => void stateListeners.add(l),
    onChannel: (l) => {
      channelListeners.add(l);
      for (const c of early.splice(0)) l(c);
    },
    onLocalCandidate: (l) => void candidateListeners.add(l),
    addRemoteCandidate: (c) =>
      pc.addIceCandidate({
        candidate: c.candidate,
        sdpMid: c.sdpMid ?? undefined,
        sdpMLineIndex: c.sdpMLineIndex ?? undefined,
      }),
    close: () => {
      closing ??= pc.close().catch((err: unknown) => opts.log.debug({ err: errorText(err) }, 'peer close failed'));
      return closing;
    },
  };
}

function gathered(
  pc: {
    iceGatheringState: string;
    iceGatheringStateChange: { subscribe(f: (s: string) => void): { unSubscribe(): void } };
  },
  timeoutMs: number,
): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state === 'complete') done();
    });
    function done() {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    }
  });
}

type WeriftChannel = import('werift').RTCDataChannel;

function wrapChannel(dc: WeriftChannel, log: Logger): Channel {
  const openListeners = new Set<() => void>();
  const closeListeners = new Set<() => void>();
  let closed = false;
  dc.stateChanged.subscribe((state) => {
    if (state === 'open') for (const l of openListeners) l();
    if (state === 'closed' && !closed) {
      closed = true;
      for (const l of closeListeners) l();
    }
  });
  dc.error.subscribe((err) => log.debug({ channel: dc.label, err: errorText(err) }, 'data channel error'));
  return {
    label: dc.label,
    get isOpen() {
      return dc.readyState === 'open';
    },
    get bufferedAmount() {
      return dc.bufferedAmount;
    },
    send: (text) => dc.send(text),
    close: () => dc.close(),
    closeGracefully: async (timeoutMs) => {
      if (dc.readyState !== 'open') return;
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref?.());
      const empty = new Promise<void>((resolve) => {
        const poll = () => (dc.bufferedAmount === 0 || dc.readyState !== 'open' ? resolve() : setTimeout(poll, 10));
        poll();
      });
      await Promise.race([empty, deadline]);
      const isClosed = new Promise<void>((resolve) => {
        if (closed) return resolve();
        closeListeners.add(() => resolve());
      });
      dc.close();
      await Promise.race([isClosed, deadline]);
    },
    // The channel may already be open when the peer hands it over (the stack opens it first): then at once.
    onOpen: (l) => {
      if (dc.readyState === 'open') queueMicrotask(l);
      openListeners.add(l);
    },
    onMessage: (l) =>
      void dc.onMessage.subscribe((data) => l(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'))),
    onClose: (l) => void closeListeners.add(l),
    drained: (threshold) =>
      new Promise<void>((resolve) => {
        if (dc.bufferedAmount <= threshold || dc.readyState !== 'open') return resolve();
        dc.bufferedAmountLowThreshold = threshold;
        const sub = dc.bufferedAmountLow.subscribe(() => {
          sub.unSubscribe();
          resolve();
        });
        // A channel that closes meanwhile never drains: let the sender find out on its next send.
        closeListeners.add(() => resolve());
      }),
  };
}

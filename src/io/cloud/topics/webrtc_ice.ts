/**
 * `webrtc:ice`: a trickled ICE candidate of the browser for a session (docs/protocol.md#webrtc-ice). The agent sends
 * its own late candidates as `webrtc:ice` events `{session_id, candidate, sdp_mid, sdp_mline_index}`.
 */
import Type, { type Static } from 'typebox';
import { BASE_MESSAGE_FIELDS, defineTopic, type ErrorResult, Opt, type Reply } from './base.js';

export const WebrtcIceRequest = Type.Object(
  {
    ...BASE_MESSAGE_FIELDS,
    session_id: Type.String({ description: 'The session of a webrtc:offer.' }),
    candidate: Opt(
      Type.String({ description: 'An SDP candidate line (candidate:...); absent, null or "" ends the candidates.' }),
    ),
    sdp_mid: Opt(Type.String()),
    sdp_mline_index: Opt(Type.Number()),
  },
  { description: 'Add a remote ICE candidate to a WebRTC debug session.' },
);
export type WebrtcIceRequest = Static<typeof WebrtcIceRequest>;

export type WebrtcIceResult =
  | { status: 'success'; session_id: string; message?: string }
  | (ErrorResult & { session_id: string });
export type WebrtcIceReply = Reply<'webrtc:ice', WebrtcIceResult>;

/** What the agent emits for each of its own candidates found after the answer. */
export type WebrtcIceEvent = {
  session_id: string;
  candidate: string;
  sdp_mid: string | null;
  sdp_mline_index: number | null;
};

export const webrtcIce = defineTopic<WebrtcIceResult>()({
  name: 'webrtc:ice',
  request: WebrtcIceRequest,
  // A repeated candidate is answered as the first time; it is not added twice.
  mutating: true,
  reply: 'ack',
});

/** `webrtc:offer`: the browser's SDP offer for a debug session of one vPLC, relayed by the cloud (docs/protocol.md#webrtc-offer). */
import Type, { type Static } from 'typebox';
import { BASE_MESSAGE_FIELDS, defineTopic, type ErrorResult, type Reply } from './base.js';

export const WebrtcOfferRequest = Type.Object(
  {
    ...BASE_MESSAGE_FIELDS,
    session_id: Type.String({
      description: 'Chosen by the cloud; names the session in webrtc:ice and webrtc:disconnect.',
    }),
    device_id: Type.String({ description: 'The vPLC (runtime container name) to debug.' }),
    sdp: Type.String({ description: "The browser's SDP offer, with the data channels it creates (data, debug)." }),
    sdp_type: Type.String({ description: 'Always "offer".' }),
  },
  {
    description:
      "Start a WebRTC debug session: the agent answers the browser's offer; the answer SDP carries the agent's candidates.",
  },
);
export type WebrtcOfferRequest = Static<typeof WebrtcOfferRequest>;

export type WebrtcOfferResult =
  | { status: 'success'; session_id: string; sdp: string; sdp_type: 'answer' }
  | (ErrorResult & { session_id: string });
export type WebrtcOfferReply = Reply<'webrtc:offer', WebrtcOfferResult>;

export const webrtcOffer = defineTopic<WebrtcOfferResult>()({
  name: 'webrtc:offer',
  request: WebrtcOfferRequest,
  // A repeat of the same offer (a lost ack) gets the same answer for the session it made, not a second session.
  mutating: true,
  reply: 'ack',
});

/** `webrtc:disconnect`: the cloud ends a WebRTC debug session (docs/protocol.md#webrtc-disconnect). */
import Type, { type Static } from 'typebox';
import { BASE_MESSAGE_FIELDS, defineTopic, Opt, type Reply } from './base.js';

export const WebrtcDisconnectRequest = Type.Object(
  {
    ...BASE_MESSAGE_FIELDS,
    session_id: Type.String({ description: 'The session of a webrtc:offer.' }),
    reason: Opt(Type.String({ description: 'Why, for the log ("client requested" when absent).' })),
  },
  { description: 'Close a WebRTC debug session; an unknown session is answered with status "warning".' },
);
export type WebrtcDisconnectRequest = Static<typeof WebrtcDisconnectRequest>;

export type WebrtcDisconnectResult = { status: 'success' | 'warning'; session_id: string; message: string };
export type WebrtcDisconnectReply = Reply<'webrtc:disconnect', WebrtcDisconnectResult>;

export const webrtcDisconnect = defineTopic<WebrtcDisconnectResult>()({
  name: 'webrtc:disconnect',
  request: WebrtcDisconnectRequest,
  mutating: true,
  reply: 'ack',
});

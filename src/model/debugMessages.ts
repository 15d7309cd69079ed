/**
 * What a `debug_*` message is answered with (docs/protocol.md#debug-messages): the `debug_response` of a
 * `run_command` with `api: "debug"`, and the replies on a WebRTC `debug` channel. Shared by the topic contract and
 * the actors that produce it.
 */
export type DebugReply =
  | { type: 'debug_connected'; session_id?: string }
  | { type: 'debug_disconnected' }
  | { type: 'debug_info_response'; variable_count: number }
  | { type: 'debug_md5_response'; md5: string }
  | { type: 'debug_values_response'; tick: number; data: string; last_index: number }
  | { type: 'debug_set_response'; success: true }
  | { type: 'debug_error'; error: string };

/** `run_command`: an HTTP request proxied to a runtime's own API (docs/protocol.md#runtime-http-proxy). */
import Type, { type Static } from 'typebox';
import type { DebugReply } from '../../../model/debugMessages.js';
import { BASE_DEVICE_FIELDS, defineTopic, type ErrorResult, Opt, type Reply } from './base.js';

/**
 * BASE_DEVICE + the request, as in the old agent's newest releases: `correlation_id` optional, `requested_at`
 * date-checked, `device_id` non-blank (docs/decisions.md#the-contract-follows-the-newest-release-where-both-clouds-are-served).
 */
export const RunCommandRequest = Type.Object(
  {
    ...BASE_DEVICE_FIELDS,
    method: Type.String({ description: 'GET, POST, PUT, DELETE, PATCH or HEAD, in any case.' }),
    api: Type.String({
      description:
        'Path on the runtime, with an optional query string, e.g. /api/runtime-logs?level=info; or "debug": data is then a debug message (debug_start, debug_info, ...).',
    }),
    port: Opt(Type.Number({ description: 'Runtime port; 8443 (https) by default.' })),
    // Free-form, as in the old agent: shapes are the proxy's business, and they may carry credentials,
    // so neither the router nor the logs look inside.
    headers: Type.Optional(Type.Unknown({ description: 'Header name -> value.' })),
    data: Type.Optional(Type.Unknown({ description: 'Request body: JSON value, form object or string.' })),
    params: Type.Optional(Type.Unknown({ description: 'Query parameters.' })),
    files: Type.Optional(
      Type.Unknown({ description: 'Multipart uploads: field -> {content_base64, filename?, content_type?}.' }),
    ),
  },
  {
    description:
      "Proxy one HTTP request to a runtime's API and return its response. GET and HEAD (in any case) only read; any other method counts as a change.",
  },
);
export type RunCommandRequest = Static<typeof RunCommandRequest>;

/** The runtime's answer as the proxy maps it (docs/protocol.md#proxy-response). */
export type ProxiedHttpResponse = {
  status_code: number;
  headers: Record<string, string>;
  body: unknown;
  ok: boolean;
  content_type: string;
};

/**
 * A runtime's answer (`success` when `ok`), the agent's refusal or failure for a vPLC that exists (`error` and the same
 * sentence in `http_response.body.error`, the old agent's shape), or a refusal without `http_response` when the vPLC
 * is not one of this agent's.
 */
export type RunCommandResult =
  | { status: 'success' | 'error'; http_response: ProxiedHttpResponse; error?: string }
  | RunCommandDebugResult
  | ErrorResult;

/**
 * `api: "debug"`: `data` is a debug message and the answer is its reply (docs/protocol.md#run-command-debug).
 * `success` whenever a debug reply was produced, also a `debug_error` one, as with the old agent.
 */
export type RunCommandDebugResult = { status: 'success' | 'error'; debug_response: DebugReply };

/** The `api` value that routes run_command to the runtime's debug protocol instead of its HTTP API. */
export const DEBUG_API = 'debug';
/** Debug messages that change the runtime or a session: repeats with the same correlation_id get the first reply. */
const MUTATING_DEBUG_TYPES = new Set(['debug_start', 'debug_stop', 'debug_set']);
export type RunCommandReply = Reply<'run_command', RunCommandResult>;

/** Methods that only read the runtime's state; the proxy upper-cases the method, so these are compared that way too. */
const READ_ONLY_METHODS = new Set(['GET', 'HEAD']);

export const runCommand = defineTopic<RunCommandResult>()({
  name: 'run_command',
  request: RunCommandRequest,
  // A read is answered afresh every time; every other method may change the runtime and is de-duplicated.
  mutating: (request: RunCommandRequest) =>
    request.api === DEBUG_API
      ? MUTATING_DEBUG_TYPES.has(String((request.data as { type?: unknown } | null)?.type))
      : !READ_ONLY_METHODS.has(request.method.trim().toUpperCase()),
  reply: 'ack',
});

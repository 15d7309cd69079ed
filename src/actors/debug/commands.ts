/**
 * The `debug_*` messages (docs/protocol.md#debug-messages), the same on the WebRTC `debug` channel and in
 * `run_command` with `api: "debug"`: each command is checked, framed, sent to the runtime and its reply read.
 * Every failure is a `debug_error` with a sentence; a reply that cannot be read is a failure, never an empty success.
 */
export type { DebugReply } from '../../model/debugMessages.js';
import type { DebugReply } from '../../model/debugMessages.js';
import { echo } from '../../model/echo.js';
import { errorText } from '../../model/errors.js';
import { RuntimeDebugError } from '../../io/runtime-debug/client.js';
import {
  fromHex,
  infoRequest,
  isIndex,
  listRequest,
  MAX_LIST_INDEXES,
  MAX_SET_VALUE_BYTES,
  md5Request,
  parseInfo,
  parseList,
  parseMd5,
  parseSet,
  setRequest,
} from '../../io/runtime-debug/protocol.js';

export const COMMAND_TYPES = ['debug_info', 'debug_get_md5', 'debug_get_list', 'debug_set'] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export function isCommandType(type: unknown): type is CommandType {
  return typeof type === 'string' && (COMMAND_TYPES as readonly string[]).includes(type);
}

export function debugError(error: string): DebugReply {
  return { type: 'debug_error', error };
}

/** Sends hex to the runtime and resolves with its reply data. */
export type SendCommand = (hex: string) => Promise<string>;

/** Carries out one debug command on an open runtime connection. Never rejects. */
export async function runDebugCommand(
  type: CommandType,
  msg: Record<string, unknown>,
  send: SendCommand,
): Promise<DebugReply> {
  const request = buildRequest(type, msg);
  if ('error' in request) return debugError(request.error);
  let reply: string;
  try {
    reply = await send(request.hex);
  } catch (err) {
    return debugError(err instanceof RuntimeDebugError ? err.message : `The debug command failed: ${errorText(err)}`);
  }
  switch (type) {
    case 'debug_info': {
      const r = parseInfo(reply);
      return r.ok ? { type: 'debug_info_response', variable_count: r.variableCount } : debugError(r.error);
    }
    case 'debug_get_md5': {
      const r = parseMd5(reply);
      return r.ok ? { type: 'debug_md5_response', md5: r.md5 } : debugError(r.error);
    }
    case 'debug_get_list': {
      const r = parseList(reply);
      return r.ok
        ? { type: 'debug_values_response', tick: r.tick, data: r.variableDataHex, last_index: r.lastIndex }
        : debugError(r.error);
    }
    case 'debug_set': {
      const r = parseSet(reply);
      return r.ok ? { type: 'debug_set_response', success: true } : debugError(r.error);
    }
  }
}

function buildRequest(type: CommandType, msg: Record<string, unknown>): { hex: string } | { error: string } {
  switch (type) {
    case 'debug_info':
      return { hex: infoRequest() };
    case 'debug_get_md5':
      return { hex: md5Request() };
    case 'debug_get_list': {
      const indexes = msg.indexes ?? [];
      if (!Array.isArray(indexes)) return { error: `indexes must be a list of variable indexes, got ${echo(indexes)}` };
      if (indexes.length === 0) return { error: 'indexes must not be empty' };
      if (indexes.length > MAX_LIST_INDEXES) return { error: `indexes must not exceed ${MAX_LIST_INDEXES} entries` };
      const bad = indexes.findIndex((i) => !isIndex(i));
      if (bad !== -1) return { error: `indexes[${bad}] must be an integer 0–65535, got ${echo(indexes[bad])}` };
      return { hex: listRequest(indexes as number[]) };
    }
    case 'debug_set': {
      // Booleans pass as 0/1, as in the old agent (Python's bool is an int).
      const index = typeof msg.index === 'boolean' ? Number(msg.index) : msg.index;
      if (!isIndex(index))
        return { error: `Invalid index: must be an integer 0–65535, got ${echo(msg.index ?? null)}` };
      const raw = msg.value ?? '00';
      const value = typeof raw === 'string' ? fromHex(raw) : null;
      if (!value)
        return { error: `Invalid value hex string: ${echo(raw)} (expected hex bytes such as "01" or "00 2A")` };
      if (value.length > MAX_SET_VALUE_BYTES) {
        return {
          error: `Invalid value hex string: ${value.length} bytes, more than the ${MAX_SET_VALUE_BYTES} a debug_set carries`,
        };
      }
      const force = msg.force === undefined ? true : Boolean(msg.force);
      return { hex: setRequest(index, force, value) };
    }
  }
}

/** Credentials and port of a debug_start, or the sentence that refuses it. */
export function startParameters(
  msg: Record<string, unknown>,
  allowedPorts: readonly number[],
): { username: string; password: string; port: number } | { error: string } {
  const { username, password } = msg;
  // The old agent fell back to dev/dev; a debug session opens only with credentials someone chose.
  if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '') {
    return {
      error:
        "debug_start needs the runtime's username and password (fields username and password); the agent does not guess them",
    };
  }
  if (username.length > 256 || password.length > 1024)
    return { error: 'debug_start: username or password is too long' };
  const port = msg.port ?? 8443;
  if (typeof port !== 'number' || !Number.isInteger(port) || !allowedPorts.includes(port)) {
    return {
      error: `debug_start: port ${echo(port)} is not a runtime port the agent may reach (allowed: ${allowedPorts.join(', ')}; see --run-command-ports)`,
    };
  }
  return { username, password, port };
}

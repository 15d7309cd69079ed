/**
 * Typed errors of the Docker adapter. Actors and machines branch on the class (or on `code`); the message is a
 * sentence a plant engineer can act on, and `engineMessage` keeps Docker's own text verbatim.
 *
 * `toEngineError` is the ONE place that reads dockerode's error shapes (`statusCode`, `json.message`,
 * `(HTTP code …) … - <text>` messages, socket error codes, aborts).
 */

export type EngineErrorCode =
  | 'not_found'
  | 'conflict'
  | 'engine_unavailable'
  | 'rlimit_refused'
  | 'image_missing'
  | 'timeout'
  | 'engine_error';

export class EngineError extends Error {
  readonly code: EngineErrorCode = 'engine_error';
  /** Docker's own text (or the socket error) behind this error, when there is one. */
  readonly engineMessage: string | undefined;
  readonly statusCode: number | undefined;

  constructor(message: string, options: { engineMessage?: string; statusCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.engineMessage = options.engineMessage;
    this.statusCode = options.statusCode;
  }
}

/** The object (container, network, image) does not exist. */
export class NotFound extends EngineError {
  override readonly code = 'not_found';
}

/** The engine refused because of the current state (name in use, network has endpoints, already attached). */
export class Conflict extends EngineError {
  override readonly code = 'conflict';
}

/** dockerd cannot be reached (socket missing, connection refused or reset). */
export class EngineUnavailable extends EngineError {
  override readonly code = 'engine_unavailable';
}

/** `start` failed because dockerd may not grant the requested ulimits (e.g. rtprio 99, memlock unlimited). */
export class RlimitRefused extends EngineError {
  override readonly code = 'rlimit_refused';
}

/** The runtime image is neither pullable nor present locally. */
export class ImageMissing extends EngineError {
  override readonly code = 'image_missing';
}

/** The engine did not answer within the call's timeout. */
export class Timeout extends EngineError {
  override readonly code = 'timeout';
}

/** What was being done, for the sentence: "Docker could not <action>". */
export interface ErrorContext {
  /** e.g. `start container plc1`, `create network macvlan_eth0_10.0.0.0_24`. */
  action: string;
  timeoutMs?: number;
}

interface DockerodeLikeError {
  statusCode?: number;
  json?: unknown;
  message?: string;
  code?: string;
  name?: string;
  reason?: string;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'EACCES',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

/** Docker's message: the JSON body's `message`, else the text after dockerode's `(HTTP code N) reason - ` prefix. */
export function engineText(err: unknown): string {
  if (err === null || typeof err !== 'object') return String(err);
  const e = err as DockerodeLikeError;
  const json = e.json;
  if (json !== null && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string') {
    return ((json as { message: string }).message || '').trim();
  }
  if (typeof json === 'string' && json.trim() !== '') return json.trim();
  if (Buffer.isBuffer(json) && json.length > 0) return json.toString('utf8').trim();
  const message = typeof e.message === 'string' ? e.message : String(err);
  const m = /^\(HTTP code \d+\) [^-]*- (.*)$/s.exec(message);
  return (m?.[1] ?? message).trim();
}

/** Map anything dockerode (or the socket) throws to one typed error with a sentence. Typed errors pass through. */
export function toEngineError(err: unknown, ctx: ErrorContext): EngineError {
  if (err instanceof EngineError) return err;
  const e = (err ?? {}) as DockerodeLikeError;
  const text = engineText(err);
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const opts = { engineMessage: text, statusCode: status, cause: err };

  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.code === 'ABORT_ERR') {
    const after = ctx.timeoutMs === undefined ? '' : ` within ${Math.round(ctx.timeoutMs / 1000)} s`;
    return new Timeout(
      `Docker did not answer${after} while trying to ${ctx.action}; the engine may be overloaded or hung. Check dockerd and retry.`,
      opts,
    );
  }
  if (status === undefined && typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) {
    return new EngineUnavailable(
      `Docker engine is not reachable (${e.code}) while trying to ${ctx.action}; check that dockerd is running and its socket is mounted into the agent.`,
      opts,
    );
  }
  if (status === 404) {
    if (/no such image|pull access denied|manifest unknown/i.test(text)) {
      return new ImageMissing(`Docker could not ${ctx.action}: ${text}.`, opts);
    }
    return new NotFound(`Docker could not ${ctx.action}: ${text}.`, opts);
  }
  if (status === 409) return new Conflict(`Docker could not ${ctx.action}: ${text}.`, opts);
  // Connecting an already-connected container answers 403 "endpoint with name … already exists in network …".
  if (status === 403 && /already exists|already attached/i.test(text)) {
    return new Conflict(`Docker could not ${ctx.action}: ${text}.`, opts);
  }
  if (/error setting rlimit|setrlimit|rlimit type/i.test(text)) {
    return new RlimitRefused(
      `Docker could not ${ctx.action} because the engine refused the runtime ulimits: ${text}. Lower --runtime-ulimits (e.g. drop rtprio/memlock) or raise dockerd's own limits.`,
      opts,
    );
  }
  return new EngineError(`Docker could not ${ctx.action}: ${text}.`, opts);
}

/** True when the error means "the object is not there" (404 on container/network/image). */
export function isNotFound(err: unknown): boolean {
  return err instanceof NotFound;
}

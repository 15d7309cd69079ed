/**
 * What a log line may hold. Everything logged passes through `scrubValue` before pino sees it:
 *
 * - Secrets never reach a line: a field named like a credential (key, cert, password, token, authorization, cookie,
 *   x-api-key, set-cookie... in any case, with `-`, `_` or none, at any depth) is replaced by the censor; so is every
 *   PEM block, bearer token and `scheme://user:password@` found inside any text.
 * - A line stays small whatever was logged: strings are cut, long lists and wide objects shortened, deep nesting
 *   cut off, binary data summarised by its size, and the whole walk has a budget. Input from the cloud or from a
 *   runtime can therefore never make a line megabytes long or a logging call throw.
 *
 * pino's own `redact` is not used: it matches exact, case-sensitive paths a fixed number of levels deep, and it
 * throws on Buffers.
 */
import { truncate } from '../../model/echo.js';
import { scrubUrlCredentials } from '../../model/urls.js';

export const REDACT_CENSOR = '[redacted]';

/** Longest string kept in a log line (an error's stack fits; an upload does not). */
export const MAX_LOGGED_STRING = 8 * 1024;
/** Deepest nesting kept in a log line. */
export const MAX_LOGGED_DEPTH = 8;
/** Most items of one list, and most keys of one object, kept in a log line. */
export const MAX_LOGGED_ITEMS = 64;
/** Most values one logging call may hold; the rest is cut. */
export const MAX_LOGGED_VALUES = 2_000;
/** Most characters of text one logging call may hold, all strings together; the rest is cut. */
export const MAX_LOGGED_CHARS = 64 * 1024;

// Compared after lower-casing and dropping '-' and '_': 'X-Api-Key', 'api_key' and 'APIKEY' are one name.
const SECRET_NAMES = new Set([
  'key',
  'cert',
  'certificate',
  'ca',
  'pfx',
  'passphrase',
  'password',
  'passwd',
  'pwd',
  'secret',
  'token',
  'auth',
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'sessionid',
  'jwt',
  'credentials',
  'privatekey',
]);
const SECRET_SUFFIXES = [
  'token',
  'secret',
  'password',
  'passwd',
  'apikey',
  'privatekey',
  'secretkey',
  'accesskey',
  'cookie',
  'authorization',
  'credentials',
  'passphrase',
];

/** Whether a field of this name holds a credential, whatever its case and separators. */
export function isSecretName(name: string): boolean {
  const normal = name.toLowerCase().replace(/[-_]/g, '');
  return SECRET_NAMES.has(normal) || SECRET_SUFFIXES.some((suffix) => normal.endsWith(suffix));
}

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|$)/g;
const BEARER = /\b(Bearer)\s+[A-Za-z0-9._~+/=-]+/gi;
// `Authorization: Basic ...`, `cookie=...` inside free text (an error message quoting a request).
const HEADER_IN_TEXT = /\b(authorization|proxy-authorization|cookie|set-cookie|x-api-key)(\s*[:=]\s*)[^\r\n,;]+/gi;

/** `text` with every PEM block (certificate, key, CSR...) replaced by the censor. */
export function scrubPem(text: string): string {
  return text.includes('-----BEGIN ') ? text.replace(PEM_BLOCK, REDACT_CENSOR) : text;
}

/** `text` without PEM blocks, bearer tokens, credential headers or URL credentials; cut to `max` characters. */
export function scrubText(text: string, max: number = MAX_LOGGED_STRING): string {
  // Cut first (bounded work), then scrub: a PEM block cut in half is still caught by its BEGIN line.
  let out = truncate(text, max);
  out = scrubPem(out);
  out = out.replace(BEARER, `$1 ${REDACT_CENSOR}`);
  out = out.replace(HEADER_IN_TEXT, `$1$2${REDACT_CENSOR}`);
  return scrubUrlCredentials(out);
}

interface Budget {
  values: number;
  chars: number;
}

/** Scrubs a string within what is left of the line's character budget. */
function budgetText(text: string, budget: Budget, max: number = MAX_LOGGED_STRING): string {
  const room = Math.min(max, MAX_LOGGED_CHARS - budget.chars);
  if (room <= 0) return '[cut: the line holds too much text]';
  const out = scrubText(text, room);
  budget.chars += Math.min(text.length, room);
  return out;
}

/**
 * A copy of `value` that is safe to log: secrets censored, size bounded (see the top of this file). Never throws;
 * Errors stay Errors (pino serialises them), with scrubbed message, stack and own fields.
 */
export function scrubValue(value: unknown, depth = 0, budget: Budget = { values: 0, chars: 0 }): unknown {
  if (++budget.values > MAX_LOGGED_VALUES) return '[cut: the line holds too many values]';
  switch (typeof value) {
    case 'string':
      return budgetText(value, budget);
    case 'number':
    case 'boolean':
    case 'undefined':
      return value;
    case 'bigint':
      return `${value}`;
    case 'symbol':
      return value.toString();
    case 'function':
      return `[function ${value.name || 'anonymous'}]`;
  }
  if (value === null) return null;
  const object = value as object;
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
    return `[${object.constructor?.name ?? 'binary'} of ${object.byteLength} bytes]`;
  }
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
  if (depth >= MAX_LOGGED_DEPTH) return '[cut: nested too deep]';
  try {
    if (object instanceof Error) return scrubError(object, depth, budget);
    if (Array.isArray(object)) {
      const out = object.slice(0, MAX_LOGGED_ITEMS).map((item) => scrubValue(item, depth + 1, budget));
      if (object.length > MAX_LOGGED_ITEMS) out.push(`[cut: ${object.length - MAX_LOGGED_ITEMS} more items]`);
      return out;
    }
    if (object instanceof Map) return scrubValue(Object.fromEntries(object), depth, budget);
    if (object instanceof Set) return scrubValue([...object], depth, budget);
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return scrubValue(toJSON.call(object), depth + 1, budget);
    return scrubRecord(object as Record<string, unknown>, depth, budget);
  } catch {
    // A getter or toJSON that throws must not take the logging call with it.
    return '[cut: could not be read]';
  }
}

function scrubRecord(record: Record<string, unknown>, depth: number, budget: Budget): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = Object.keys(record);
  for (const key of keys.slice(0, MAX_LOGGED_ITEMS)) {
    const shownKey = truncate(key, 128);
    const item = record[key];
    // defineProperty: a key named __proto__ stays a plain key of the copy.
    const scrubbed =
      isSecretName(key) && item !== undefined && item !== null && item !== ''
        ? REDACT_CENSOR
        : scrubValue(item, depth + 1, budget);
    Object.defineProperty(out, shownKey, { value: scrubbed, enumerable: true, writable: true, configurable: true });
  }
  if (keys.length > MAX_LOGGED_ITEMS) out['[cut]'] = `${keys.length - MAX_LOGGED_ITEMS} more keys`;
  return out;
}

function scrubError(error: Error, depth: number, budget: Budget): Error {
  const copy = new Error(budgetText(String(error.message), budget));
  copy.name = budgetText(String(error.name), budget, 128);
  copy.stack = error.stack === undefined ? undefined : budgetText(String(error.stack), budget);
  // Own fields (code, errno, syscall, address, cause...), scrubbed like any object's.
  const own = scrubRecord(
    Object.fromEntries(
      Object.keys(error)
        .filter((key) => key !== 'message' && key !== 'stack' && key !== 'name')
        .map((key) => [key, (error as unknown as Record<string, unknown>)[key]]),
    ),
    depth,
    budget,
  );
  Object.assign(copy, own);
  if ('cause' in error && !Object.keys(error).includes('cause')) {
    (copy as Error & { cause?: unknown }).cause = scrubValue(error.cause, depth + 1, budget);
  }
  return copy;
}

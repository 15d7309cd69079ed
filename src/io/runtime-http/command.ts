import { randomBytes } from 'node:crypto';
import { encodeMultipart, type MultipartPart } from './multipart.js';
import { truncate } from '../../model/echo.js';
import { errorText } from '../../model/errors.js';

/**
 * What the cloud's `run_command` asks of the runtime. The topic contract types only method, api and port; headers,
 * data, params and files arrive unchecked and are checked here.
 */
export interface RuntimeCommand {
  method: string;
  api: string;
  port?: number | null;
  headers?: unknown;
  data?: unknown;
  params?: unknown;
  files?: unknown;
}

export type CommandCheck = { ok: true } | { ok: false; error: string };

/** A request ready to send: everything validated, the body already encoded (so a redirect can replay it). */
export interface PreparedRequest {
  method: string;
  /** Absolute path plus query string, e.g. `/api/echo?a=1&a=2`. */
  pathAndQuery: string;
  /** The validated path of `api`, without its query string: for logs and error sentences. */
  path: string;
  port: number;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

export const DEFAULT_RUNTIME_PORT = 8443;
export const ALLOWED_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'] as const;

const MAX_API_LENGTH = 2048;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const MEDIA_TYPE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
// Per-hop or framing headers: a proxy must not forward them (RFC 9110 7.6.1), and letting the cloud set
// Host/Content-Length/Transfer-Encoding would let it desynchronise the request we frame ourselves.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

class Refusal extends Error {}

const refuse = (message: string): never => {
  throw new Refusal(message);
};

/** Python truthiness, because the old agent sent a part only when it was truthy (docs/protocol.md#proxy-request). */
function truthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/**
 * How the old agent (Python `requests`) turns a scalar into query/form text: booleans become `True`/`False`, so a
 * runtime that worked with the old agent sees the same strings.
 */
function scalarText(value: unknown, field: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) refuse(`Invalid field value: ${field} must be a finite number.`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return refuse(`Invalid field type: ${field} must be a string, number or boolean.`);
}

function checkMethod(method: unknown): string {
  if (typeof method !== 'string') return refuse('Invalid field type: method must be a string such as "GET".');
  const upper = method.trim().toUpperCase();
  if (!(ALLOWED_METHODS as readonly string[]).includes(upper)) {
    refuse(`Unsupported HTTP method: ${truncate(method)} (use one of ${ALLOWED_METHODS.join(', ')}).`);
  }
  return upper;
}

function checkPort(port: unknown, allowedPorts: readonly number[]): number {
  if (port === undefined || port === null) return DEFAULT_RUNTIME_PORT;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    refuse(`Invalid field value: port must be a whole number between 1 and 65535 (got ${JSON.stringify(port)}).`);
  }
  if (!allowedPorts.includes(port as number)) {
    refuse(
      `Invalid field value: port ${port} is not allowed; the agent only forwards to runtime port(s) ${allowedPorts.join(', ')}.`,
    );
  }
  return port as number;
}

/** Percent-decodes until stable (bounded), so `%252e%252e` is seen as `..` too. */
function fullyDecoded(path: string): string {
  let current = path;
  for (let i = 0; i < 4; i++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      refuse(
        'Invalid field value: api contains a malformed percent-encoding (a % must be followed by two hex digits).',
      );
      return current;
    }
    if (next === current) return current;
    current = next;
  }
  return current;
}

const API_RULE = 'api must be a path on the runtime such as /api/status';

/**
 * Non-ASCII characters as UTF-8 percent-encodings, as the old agent's HTTP library sent them (Node would refuse them
 * in a request path, or send Latin-1). A lone surrogate has no UTF-8 form and is refused.
 */
function encodeNonAscii(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is everything ASCII, named by its ends.
  return text.replace(/[^\u0000-\u007f]/gu, (char) => {
    try {
      return encodeURIComponent(char);
    } catch {
      return refuse(`Invalid field value: ${API_RULE}; it contains a broken Unicode character.`);
    }
  });
}

/**
 * The query string that may follow the path in `api` (the runtime's own endpoints take one, e.g.
 * `/api/runtime-logs?id=3&level=info`), sent as written: a `%` that starts no percent-encoding becomes `%25`, as the
 * old agent's HTTP library did, and non-ASCII text is percent-encoded. Encoded values (`%23`, `%0A`) stay encoded, so
 * they cannot end the request line or start a fragment.
 */
function checkQuery(query: string): string {
  return encodeNonAscii(query.replace(/%(?![0-9A-Fa-f]{2})/g, '%25'));
}

/** The path and query string of `api`; refuses anything that could name another host or leave the runtime's API. */
function checkApi(api: unknown): { path: string; query: string } {
  if (typeof api !== 'string') return refuse(`Invalid field type: ${API_RULE}.`);
  if (api.trim() === '') refuse(`Invalid field value: ${API_RULE}; it is empty.`);
  if (api.length > MAX_API_LENGTH)
    refuse(`Invalid field value: ${API_RULE}; it is longer than ${MAX_API_LENGTH} characters.`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused here.
  if (/[\u0000-\u0020\u007f-\u009f]/.test(api))
    refuse(`Invalid field value: ${API_RULE}; it must not contain spaces or control characters.`);
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(api)) refuse(`Invalid field value: ${API_RULE}, not a URL with a scheme.`);
  if (api.startsWith('//')) refuse(`Invalid field value: ${API_RULE}; it must not start with // (that names a host).`);
  if (api.includes('\\')) refuse(`Invalid field value: ${API_RULE}; it must not contain a backslash.`);
  if (api.includes('#')) refuse(`Invalid field value: ${API_RULE}; it must not contain a # fragment.`);
  const mark = api.indexOf('?');
  const rawPath = mark === -1 ? api : api.slice(0, mark);
  const query = mark === -1 ? '' : checkQuery(api.slice(mark + 1));
  if (rawPath.includes('@')) refuse(`Invalid field value: ${API_RULE}; its path must not contain @.`);
  const decoded = fullyDecoded(rawPath);
  if (decoded.split(/[/\\]/).some((segment) => segment === '..')) {
    refuse(`Invalid field value: ${API_RULE}; it must not contain a .. segment (plain or percent-encoded).`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: see above, after decoding.
  if (/[\u0000-\u001f\u007f@\\?#]/.test(decoded)) {
    refuse(
      `Invalid field value: ${API_RULE}; its path must not hide control characters, @, \\, ? or # behind percent-encoding.`,
    );
  }
  // The old agent stripped leading slashes, so `api/status` worked with it; keep accepting it.
  return { path: encodeNonAscii(`/${rawPath.replace(/^\/+/, '')}`), query };
}

function checkHeaders(headers: unknown): Record<string, string> {
  if (!truthy(headers)) return {};
  if (!isPlainObject(headers)) return refuse('Invalid field type: headers must be an object of header name to value.');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) refuse(`Invalid field value: headers.${truncate(name)} is not a valid HTTP header name.`);
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    if (value === null || value === undefined) continue;
    const text = scalarText(value, `headers.${truncate(name)}`);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: CR/LF/NUL in a header value would split the request.
    if (/[\r\n\u0000]/.test(text))
      refuse(`Invalid field value: headers.${truncate(name)} must not contain line breaks.`);
    out[name] = text;
  }
  return out;
}

function headerValue(headers: Record<string, string>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

function deleteHeader(headers: Record<string, string>, name: string): void {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) delete headers[key];
}

/**
 * `application/json`, `application/json; charset=utf-8`, `application/problem+json`, in any case (the old agent
 * sent JSON only for exactly `application/json`).
 */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const media = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return media === 'application/json' || (media.startsWith('application/') && media.endsWith('+json'));
}

type Pair = [string, string];

function pairsOf(value: unknown, field: string): Pair[] {
  const pairs: Pair[] = [];
  if (isPlainObject(value)) {
    for (const [key, v] of Object.entries(value)) {
      // `requests` drops None values and repeats a key for each list item.
      if (v === null || v === undefined) continue;
      const at = `${field}.${truncate(key)}`;
      if (Array.isArray(v)) {
        v.forEach((item, i) => {
          if (item !== null && item !== undefined) pairs.push([key, scalarText(item, `${at}[${i}]`)]);
        });
      } else {
        pairs.push([key, scalarText(v, at)]);
      }
    }
    return pairs;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== 'string') {
        refuse(`Invalid field type: ${field}[${i}] must be a [name, value] pair.`);
      }
      const [key, v] = item as [string, unknown];
      pairs.push([key, scalarText(v, `${field}[${i}]`)]);
    });
    return pairs;
  }
  return refuse(`Invalid field type: ${field} must be an object (name to value or list of values).`);
}

function encodePairs(pairs: Pair[]): string {
  const search = new URLSearchParams();
  for (const [k, v] of pairs) search.append(k, v);
  return search.toString();
}

function checkParams(params: unknown): string {
  if (!truthy(params)) return '';
  if (typeof params === 'string') {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: a query string with these would corrupt the request line.
    if (/[\u0000-\u0020\u007f#]/.test(params))
      refuse('Invalid field value: params as a string must be a query string without spaces or #.');
    return encodePairs([...new URLSearchParams(params.replace(/^\?/, ''))]);
  }
  return encodePairs(pairsOf(params, 'params'));
}

interface DecodedFile {
  field: string;
  filename: string;
  contentType: string;
  content: Buffer;
}

function checkFiles(files: unknown): DecodedFile[] {
  if (!truthy(files)) return [];
  if (!isPlainObject(files)) {
    return refuse(
      'Invalid field type: files must be an object of field name to {filename, content_base64, content_type}.',
    );
  }
  const out: DecodedFile[] = [];
  for (const [name, value] of Object.entries(files)) {
    // `field` names the part in sentences (cut short); `name` is sent as it is.
    const field = truncate(name);
    if (typeof value === 'string') {
      // `requests` sends a bare string as a file named after its field.
      out.push({ field: name, filename: name, contentType: 'application/octet-stream', content: Buffer.from(value) });
      continue;
    }
    if (!isPlainObject(value) || !('content_base64' in value)) {
      refuse(
        `Invalid field type: files.${field} must be an object with content_base64 (and optional filename, content_type).`,
      );
    }
    const spec = value as Record<string, unknown>;
    const b64 = spec.content_base64;
    if (b64 === '' || b64 === null || b64 === undefined) continue;
    if (typeof b64 !== 'string') refuse(`Invalid field type: files.${field}.content_base64 must be a base64 string.`);
    const compact = (b64 as string).replace(/\s+/g, '');
    if (!BASE64.test(compact)) refuse(`Invalid field value: files.${field}.content_base64 is not valid base64.`);
    const filename = spec.filename ?? name;
    if (typeof filename !== 'string' || filename === '') {
      refuse(`Invalid field type: files.${field}.filename must be a non-empty string.`);
    }
    const contentType = spec.content_type ?? 'application/octet-stream';
    if (typeof contentType !== 'string' || !MEDIA_TYPE.test(contentType.split(';')[0]?.trim() ?? '')) {
      refuse(`Invalid field value: files.${field}.content_type must be a media type such as application/octet-stream.`);
    }
    if (/[\r\n]/.test(contentType as string))
      refuse(`Invalid field value: files.${field}.content_type must not contain line breaks.`);
    out.push({
      field: name,
      filename: filename as string,
      contentType: contentType as string,
      content: Buffer.from(compact, 'base64'),
    });
  }
  return out;
}

function buildBody(data: unknown, files: DecodedFile[], headers: Record<string, string>): Buffer | undefined {
  if (files.length > 0) {
    const parts: MultipartPart[] = [];
    if (truthy(data)) {
      if (!isPlainObject(data) && !Array.isArray(data)) {
        refuse('Invalid field type: data must be an object of form fields when files are sent.');
      }
      for (const [name, value] of pairsOf(data, 'data')) parts.push({ name, content: Buffer.from(value) });
    }
    for (const f of files) {
      parts.push({ name: f.field, filename: f.filename, contentType: f.contentType, content: f.content });
    }
    const boundary = `----orchestrator-agent-${randomBytes(12).toString('hex')}`;
    // Our boundary must win over any Content-Type the cloud sent, or the runtime cannot split the parts.
    deleteHeader(headers, 'content-type');
    headers['Content-Type'] = `multipart/form-data; boundary=${boundary}`;
    return encodeMultipart(parts, boundary);
  }
  if (!truthy(data)) return undefined;
  const contentType = headerValue(headers, 'content-type');
  if (contentType === undefined || isJsonMediaType(contentType)) {
    if (contentType === undefined) headers['Content-Type'] = 'application/json';
    return Buffer.from(JSON.stringify(data));
  }
  if (typeof data === 'string') return Buffer.from(data);
  if (typeof data === 'number' || typeof data === 'boolean') return Buffer.from(scalarText(data, 'data'));
  return Buffer.from(encodePairs(pairsOf(data, 'data')));
}

/** Validates and encodes a command; throws `Refusal` with a sentence naming the field and the rule. */
function assemble(cmd: RuntimeCommand, allowedPorts: readonly number[]): PreparedRequest {
  if (!isPlainObject(cmd)) refuse('Invalid field type: the command must be an object.');
  const method = checkMethod(cmd.method);
  const { path, query: apiQuery } = checkApi(cmd.api);
  const port = checkPort(cmd.port, allowedPorts);
  const headers = checkHeaders(cmd.headers);
  // Both query strings are sent, api's first: the old agent's HTTP library appended params to the URL's own query
  // the same way, and a runtime that reads the first value of a repeated key (Flask's request.args.get) sees api's.
  const query = [apiQuery, checkParams(cmd.params)].filter((part) => part !== '').join('&');
  const files = checkFiles(cmd.files);
  const body = buildBody(cmd.data, files, headers);
  return { method, path, pathAndQuery: query ? `${path}?${query}` : path, port, headers, body };
}

export type Prepared = { ok: true; request: PreparedRequest } | { ok: false; error: string };

/** Validates a command and encodes its request; never throws. */
export function prepareCommand(cmd: RuntimeCommand, allowedPorts: readonly number[]): Prepared {
  try {
    return { ok: true, request: assemble(cmd, allowedPorts) };
  } catch (err) {
    if (err instanceof Refusal) return { ok: false, error: err.message };
    const why = errorText(err);
    return { ok: false, error: `Invalid command: ${why}` };
  }
}

/**
 * Checks a `run_command` payload before any request is made, so the topic handler can answer `status: "error"`
 * with a sentence that names the field and the rule.
 */
export function validateCommand(
  cmd: RuntimeCommand,
  allowedPorts: readonly number[] = [DEFAULT_RUNTIME_PORT],
): CommandCheck {
  const prepared = prepareCommand(cmd, allowedPorts);
  return prepared.ok ? { ok: true } : { ok: false, error: prepared.error };
}

import { MAX_JSON_DEPTH } from '../../model/jsonShape.js';
import { isJsonMediaType } from './command.js';

/** A runtime's JSON answer nested deeper than the agent forwards (it could not be sent on to the cloud). */
export class ResponseTooDeep extends Error {
  constructor(readonly limit: number) {
    super(`nested more than ${limit} levels deep`);
  }
}

/**
 * Whether JSON text opens more than `limit` arrays or objects inside each other, found by scanning the text once
 * (strings skipped) before it is parsed: V8 parses any depth, but the value could then not be walked or sent.
 */
export function jsonDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** `http_response` of the `run_command` reply (docs/protocol.md#proxy-response), with `body_encoding` added. */
export interface HttpResponseView {
  status_code: number;
  headers: Record<string, string>;
  body: unknown;
  ok: boolean;
  content_type: string;
  /** Present only when `body` is the base64 of a binary payload (the old agent mangled those into text). */
  body_encoding?: 'base64';
}

/**
 * Response headers in their original case, repeated ones joined with `, ` as the old agent did
 * (`rawHeaders` is Node's [name, value, name, value, ...] list).
 */
export function headersFromRaw(rawHeaders: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const caseOf = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    const key = caseOf.get(name.toLowerCase());
    if (key === undefined) {
      caseOf.set(name.toLowerCase(), name);
      out[name] = value;
    } else {
      out[key] = `${out[key]}, ${value}`;
    }
  }
  return out;
}

function mediaTypeOf(contentType: string | undefined): string | undefined {
  const media = contentType?.split(';')[0]?.trim().toLowerCase();
  return media === '' ? undefined : media;
}

function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  return match?.[1]?.toLowerCase();
}

// Types whose bodies are text even though they are not text/*.
const TEXTUAL_APPLICATION = new Set([
  'application/xml',
  'application/javascript',
  'application/ecmascript',
  'application/x-www-form-urlencoded',
  'application/x-yaml',
  'application/yaml',
  'application/toml',
  'application/graphql',
  'application/sql',
]);

function isTextual(media: string | undefined): boolean {
  if (media === undefined) return true;
  return (
    media.startsWith('text/') ||
    isJsonMediaType(media) ||
    TEXTUAL_APPLICATION.has(media) ||
    media.endsWith('+xml') ||
    media.endsWith('+yaml')
  );
}

function decodeStrict(bytes: Buffer, charset: string): string | undefined {
  try {
    return new TextDecoder(charset, { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Decodes a text body: the declared charset when there is one (and it fits the bytes); otherwise UTF-8, and for
 * `text/*` Latin-1 as the last resort (the old agent's default for text without charset). Undefined = not text.
 */
function decodeText(bytes: Buffer, media: string | undefined, charset: string | undefined): string | undefined {
  if (charset !== undefined) {
    const declared = decodeStrict(bytes, charset);
    if (declared !== undefined) return declared;
  }
  const utf8 = decodeStrict(bytes, 'utf-8');
  if (utf8 !== undefined) return utf8;
  if (media?.startsWith('text/')) return bytes.toString('latin1');
  return undefined;
}

/**
 * Maps a runtime's answer for the cloud, honestly (the old agent called any JSON-parsable body JSON and mangled binary
 * bodies into text): JSON is parsed only when the body parses and its type is JSON, text or absent; text is decoded by
 * its charset; anything else goes back as base64 with `body_encoding: "base64"` and its real content type. Throws
 * `ResponseTooDeep` for JSON nested deeper than MAX_JSON_DEPTH.
 */
export function toResponseView(statusCode: number, rawHeaders: readonly string[], bytes: Buffer): HttpResponseView {
  const headers = headersFromRaw(rawHeaders);
  const contentType = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  const media = mediaTypeOf(contentType);
  const base = { status_code: statusCode, headers, ok: statusCode < 400 };

  if (bytes.length === 0) return { ...base, body: '', content_type: media ?? 'text/plain' };

  if (isTextual(media)) {
    const text = decodeText(bytes, media, charsetOf(contentType));
    if (text !== undefined) {
      if (media === undefined || media.startsWith('text/') || isJsonMediaType(media)) {
        let parsed: { value: unknown } | null = null;
        try {
          parsed = { value: JSON.parse(text) };
        } catch {
          // Not JSON after all: fall through to text.
        }
        if (parsed !== null) {
          // Checked only once it parsed: text that merely starts with brackets is sent on as text.
          if (jsonDeeperThan(text, MAX_JSON_DEPTH)) throw new ResponseTooDeep(MAX_JSON_DEPTH);
          return { ...base, body: parsed.value, content_type: 'application/json' };
        }
      }
      return { ...base, body: text, content_type: media ?? 'text/plain' };
    }
  }
  return {
    ...base,
    body: bytes.toString('base64'),
    content_type: media ?? 'application/octet-stream',
    body_encoding: 'base64',
  };
}

/** The old agent's envelope for a request that could not be made or completed (docs/protocol.md#proxy-failures). */
export function errorView(statusCode: number, error: string): HttpResponseView {
  return { status_code: statusCode, headers: {}, body: { error }, ok: false, content_type: 'application/json' };
}

/**
 * What the inspector shows of an actor's context or an event: small, JSON-safe and without secrets. Values are
 * cut (strings at 160 characters, lists and maps to their size, objects one level deep), functions are left out,
 * and any key that names a secret (key, token, password, cert, secret, auth) shows only that it is there.
 */

const SECRET = /(key|token|pass(word)?|secret|cert|auth|credential)/i;
const MAX_TEXT = 160;
const MAX_FIELDS = 24;

export type Summary = Record<string, string | number | boolean | null>;

function scalar(value: unknown): string | number | boolean | null | undefined {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
      return value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT)}…` : value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    default:
      return undefined;
  }
}

function shortOf(value: unknown): string | number | boolean | null | undefined {
  const s = scalar(value);
  if (s !== undefined) return s;
  if (typeof value === 'function' || typeof value === 'symbol' || value === undefined) return undefined;
  if (Array.isArray(value)) return `[${value.length} item${value.length === 1 ? '' : 's'}]`;
  if (value instanceof Map || value instanceof Set) return `{${value.size} entr${value.size === 1 ? 'y' : 'ies'}}`;
  if (typeof value === 'object') {
    // An actor reference or an object with a name says which.
    const named = (value as { name?: unknown; id?: unknown }).name ?? (value as { id?: unknown }).id;
    return typeof named === 'string' ? `{${scalar(named)}}` : '{…}';
  }
  return undefined;
}

/** The top-level fields of `value` (a context or an event) as short, secret-free text. */
export function summarize(value: unknown): Summary {
  const out: Summary = {};
  if (value === null || typeof value !== 'object') return out;
  let fields = 0;
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (fields >= MAX_FIELDS) {
      out['…'] = 'more fields';
      break;
    }
    if (SECRET.test(key)) {
      if (field !== null && field !== undefined) out[key] = '<hidden>';
      fields++;
      continue;
    }
    const short = shortOf(field);
    if (short === undefined) continue;
    out[key] = short;
    fields++;
  }
  return out;
}

/** An event as a log line shows it: its type and its other fields, summarized. */
export function summarizeEvent(event: unknown): { type: string; fields: Summary } {
  const type = typeof (event as { type?: unknown })?.type === 'string' ? (event as { type: string }).type : '?';
  const { type: _type, ...rest } = (event ?? {}) as Record<string, unknown>;
  return { type: scalar(type) as string, fields: summarize(rest) };
}

/**
 * What must never reach a log line: certificates, private keys and HTTP credentials (TLS options, run_command
 * headers). Two layers: pino `redact` paths for fields that carry them by name, and a scrubber that replaces any
 * PEM block found in a logged string, wherever it sits.
 */

export const REDACT_CENSOR = '[redacted]';

const SECRET_FIELDS = ['key', 'cert', 'ca', 'pfx', 'passphrase', 'privateKey', 'private_key', 'password', 'token'];
const SECRET_HEADERS = [
  'authorization',
  'Authorization',
  'cookie',
  'Cookie',
  '"proxy-authorization"',
  '"Proxy-Authorization"',
];

function headerPath(prefix: string, header: string): string {
  return header.startsWith('"') ? `${prefix}headers[${header}]` : `${prefix}headers.${header}`;
}

export const REDACT_PATHS: string[] = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  ...SECRET_HEADERS.flatMap((h) => [headerPath('', h), headerPath('*.', h), headerPath('*.*.', h)]),
];

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|$)/g;

/** `text` with every PEM block (certificate, key, CSR...) replaced by the censor. */
export function scrubPem(text: string): string {
  return text.includes('-----BEGIN ') ? text.replace(PEM_BLOCK, REDACT_CENSOR) : text;
}

/** Copy of `value` with PEM blocks scrubbed from its strings, or `value` itself when it holds none. Bounded depth. */
export function scrubValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubPem(value);
  if (depth >= 6 || value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    value.forEach((item, i) => {
      const scrubbed = scrubValue(item, depth + 1);
      if (scrubbed !== item) {
        copy ??= [...value];
        copy[i] = scrubbed;
      }
    });
    return copy ?? value;
  }
  if (value instanceof Error) {
    const message = scrubPem(value.message);
    const stack = value.stack === undefined ? undefined : scrubPem(value.stack);
    if (message === value.message && stack === value.stack) return value;
    const copy = new Error(message);
    copy.name = value.name;
    copy.stack = stack;
    return copy;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  let copy: Record<string, unknown> | null = null;
  for (const [k, item] of Object.entries(value)) {
    const scrubbed = scrubValue(item, depth + 1);
    if (scrubbed !== item) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[k] = scrubbed;
    }
  }
  return copy ?? value;
}

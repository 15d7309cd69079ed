import { describe, expect, it } from 'vitest';
import {
  isSecretName,
  MAX_LOGGED_DEPTH,
  MAX_LOGGED_ITEMS,
  MAX_LOGGED_STRING,
  REDACT_CENSOR,
  scrubValue,
} from '../../src/io/log/redact.js';

const SECRET = 'hunter2-s3cr3t';
const PEM = `-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA${SECRET}\n-----END RSA PRIVATE KEY-----`;

/** Every form a secret takes in what the agent logs, and where it sits. */
const SECRET_FORMS: Array<[string, unknown]> = [
  ['Authorization header', { headers: { Authorization: `Bearer ${SECRET}` } }],
  ['AUTHORIZATION in capitals', { headers: { AUTHORIZATION: `Bearer ${SECRET}` } }],
  ['authorization in lower case', { headers: { authorization: `Basic ${SECRET}` } }],
  ['Proxy-Authorization', { headers: { 'Proxy-Authorization': SECRET } }],
  ['X-Api-Key', { headers: { 'X-Api-Key': SECRET } }],
  ['x_api_key', { x_api_key: SECRET }],
  ['api-key in a query object', { params: { 'api-key': SECRET } }],
  ['Set-Cookie', { headers: { 'Set-Cookie': `sid=${SECRET}; HttpOnly` } }],
  ['Cookie', { request: { headers: { Cookie: `sid=${SECRET}` } } }],
  ['a key three levels down', { a: { b: { c: { key: SECRET } } } }],
  ['a password six levels down', { a: { b: { c: { d: { e: { password: SECRET } } } } } }],
  ['passphrase', { tls: { passphrase: SECRET } }],
  ['client_secret', { oauth: { client_secret: SECRET } }],
  ['access_token', { access_token: SECRET }],
  ['refreshToken', { refreshToken: SECRET }],
  ['privateKey', { privateKey: SECRET }],
  ['a key in a list', { items: [{ name: 'x' }, { token: SECRET }] }],
  ['a cert as a Buffer', { cert: Buffer.from(SECRET) }],
  ['a PEM block in free text', { detail: `loaded ${PEM} from disk` }],
  ['a PEM block deep in a list', { a: [[[[{ text: PEM }]]]] }],
  ['a PEM block cut at the string limit', { text: `${'x'.repeat(MAX_LOGGED_STRING - 40)}${PEM}` }],
  ['a bearer token in a message', `request failed: Authorization: Bearer ${SECRET}`],
  ['a bearer token in an error', new Error(`runtime said 401 for Bearer ${SECRET}`)],
  ['a cookie quoted in text', `sent cookie=${SECRET}; got 403`],
  ['an x-api-key quoted in text', `header X-Api-Key: ${SECRET}`],
  ['URL credentials', `cannot connect to https://agent:${SECRET}@cloud.test:3001`],
  ['URL credentials in an error field', { err: { message: `wss://u:${SECRET}@h/x` } }],
  ['a secret in an error cause', Object.assign(new Error('outer'), { cause: { token: SECRET } })],
  ['a secret in an error field', Object.assign(new Error('outer'), { config: { headers: { authorization: SECRET } } })],
  ['a secret in a Map', { map: new Map([['password', SECRET]]) }],
];

function text(value: unknown): string {
  const scrubbed = scrubValue(value);
  if (scrubbed instanceof Error) {
    return JSON.stringify({ ...scrubbed, message: scrubbed.message, stack: scrubbed.stack, cause: scrubbed.cause });
  }
  return JSON.stringify(scrubbed);
}

describe('redaction', () => {
  it.each(SECRET_FORMS)('censors %s', (_form, value) => {
    const out = text(value);
    expect(out).not.toContain(SECRET);
    expect(out).toContain(REDACT_CENSOR);
  });

  it.each([
    'authorization',
    'Authorization',
    'AUTHORIZATION',
    'X-Api-Key',
    'x-api-key',
    'apiKey',
    'API_KEY',
    'Set-Cookie',
    'set_cookie',
    'key',
    'KEY',
    'private_key',
    'aws_secret_access_key',
    'githubToken',
  ])('treats a field named %s as a secret', (name) => {
    expect(isSecretName(name)).toBe(true);
  });

  it.each(['session', 'topic', 'correlation_id', 'vplc', 'status', 'keys', 'monkey', 'step', 'bytes', 'api'])(
    'keeps a field named %s',
    (name) => {
      expect(isSecretName(name)).toBe(false);
      expect(scrubValue({ [name]: 'shown' })).toEqual({ [name]: 'shown' });
    },
  );

  it('keeps the shape of what is not secret', () => {
    expect(
      scrubValue({ topic: 'run_command', headers: { accept: 'json', Authorization: 'x' }, n: 1, ok: true }),
    ).toEqual({
      topic: 'run_command',
      headers: { accept: 'json', Authorization: REDACT_CENSOR },
      n: 1,
      ok: true,
    });
  });
});

describe('the size of a logged value', () => {
  it('summarises a Buffer by its size instead of throwing', () => {
    expect(scrubValue({ body: Buffer.alloc(10_000) })).toEqual({ body: '[Buffer of 10000 bytes]' });
  });

  it('cuts long strings, long lists, wide objects and deep nesting', () => {
    expect((scrubValue('x'.repeat(1_000_000)) as string).length).toBeLessThan(MAX_LOGGED_STRING + 100);
    const list = scrubValue(new Array(10_000).fill(1)) as unknown[];
    expect(list).toHaveLength(MAX_LOGGED_ITEMS + 1);
    expect(list.at(-1)).toBe(`[cut: ${10_000 - MAX_LOGGED_ITEMS} more items]`);
    const wide = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`k${i}`, i]));
    expect(Object.keys(scrubValue(wide) as object)).toHaveLength(MAX_LOGGED_ITEMS + 1);
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    expect(JSON.stringify(scrubValue(deep))).toContain('[cut: nested too deep]');
    expect(JSON.stringify(scrubValue(deep)).length).toBeLessThan(MAX_LOGGED_DEPTH * 10 + 50);
  });

  it('bounds a whole line: a wide and deep value stays under 1 MiB of JSON', () => {
    let value: unknown = 'y'.repeat(100_000);
    for (let i = 0; i < 6; i++) value = Array.from({ length: 100 }, () => value);
    expect(JSON.stringify(scrubValue(value)).length).toBeLessThan(1024 * 1024);
  });

  it('never throws, whatever it is given', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const getter = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get() {
        throw new Error('no');
      },
    });
    const proto = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": 1}}');
    for (const value of [cyclic, getter, proto, 10n, Symbol('s'), () => 1, new Date(Number.NaN), new Uint8Array(3)]) {
      expect(() => JSON.stringify(scrubValue(value))).not.toThrow();
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(scrubValue(proto))).toContain('__proto__');
  });
});

import { describe, expect, it } from 'vitest';
import { prepareCommand, type RuntimeCommand, validateCommand } from '../../src/io/runtime-http/command.js';
import { BAD_COMMANDS } from '../support/runtimeHttpCases.js';

const ALLOWED = [8443, 8080];

describe('validateCommand', () => {
  it.each(BAD_COMMANDS)('refuses $why and names the field', ({ cmd, names }) => {
    const result = validateCommand(cmd, ALLOWED);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(names);
  });

  it.each(['/api/status', 'api/status', '/api/v1/programs/main.st', '/api/a%20b', '/api/..hidden', '/'])(
    'accepts the path %s',
    (api) => {
      expect(validateCommand({ method: 'GET', api }, ALLOWED)).toEqual({ ok: true });
    },
  );

  it('accepts methods in any case, including PATCH and HEAD', () => {
    for (const method of ['get', 'Post', 'put', 'DELETE', 'patch', 'head']) {
      expect(validateCommand({ method, api: '/api/status' }, ALLOWED)).toEqual({ ok: true });
    }
  });

  it("keeps the old agent's sentence for an unsupported method", () => {
    const result = validateCommand({ method: 'TRACE', api: '/x' }, ALLOWED);
    expect(result).toMatchObject({ ok: false });
    if (!result.ok) expect(result.error.startsWith('Unsupported HTTP method: TRACE')).toBe(true);
  });

  it('defaults to port 8443 and only allows 8443 unless told otherwise', () => {
    expect(validateCommand({ method: 'GET', api: '/x' })).toEqual({ ok: true });
    expect(validateCommand({ method: 'GET', api: '/x', port: null })).toEqual({ ok: true });
    expect(validateCommand({ method: 'GET', api: '/x', port: 8080 }).ok).toBe(false);
  });

  it('accepts headers: null together with data, which left the old agent without a reply', () => {
    expect(validateCommand({ method: 'POST', api: '/x', headers: null, data: { a: 1 } }, ALLOWED)).toEqual({
      ok: true,
    });
  });

  it('never throws, whatever the payload', () => {
    for (const cmd of [null, undefined, 5, 'GET /', [], { method: null, api: null }]) {
      expect(() => validateCommand(cmd as unknown as RuntimeCommand, ALLOWED)).not.toThrow();
      expect(validateCommand(cmd as unknown as RuntimeCommand, ALLOWED).ok).toBe(false);
    }
  });
});

describe('prepareCommand request assembly', () => {
  const prepare = (cmd: RuntimeCommand) => {
    const p = prepareCommand(cmd, ALLOWED);
    if (!p.ok) throw new Error(p.error);
    return p.request;
  };

  it('prefixes a missing leading slash, as the old agent accepted api/status', () => {
    expect(prepare({ method: 'get', api: 'api/status' })).toMatchObject({ method: 'GET', pathAndQuery: '/api/status' });
  });

  it('encodes params with repeated keys for lists, skips nulls and writes booleans like the old agent', () => {
    const req = prepare({ method: 'GET', api: '/e', params: { a: [1, 2], b: 'x y&z', c: null, d: true, e: false } });
    expect(req.pathAndQuery).toBe('/e?a=1&a=2&b=x+y%26z&d=True&e=False');
  });

  it.each([
    ['/api/status?include_stats=true', '/api/status?include_stats=true'],
    ['/api/runtime-logs?id=17&level=info', '/api/runtime-logs?id=17&level=info'],
    ['api/upload-file?clean=1', '/api/upload-file?clean=1'],
    ['/api/find?user=a@b.example&q=%23tag&nl=%0A', '/api/find?user=a@b.example&q=%23tag&nl=%0A'],
    ['/api/find?path=../up', '/api/find?path=../up'],
    ['/api/status?', '/api/status'],
    ['/api/x?discount=100%', '/api/x?discount=100%25'],
    ['/api/x?name=café', '/api/x?name=caf%C3%A9'],
    ['/api/grüße?a=1', '/api/gr%C3%BC%C3%9Fe?a=1'],
  ])('accepts the query string of %s and sends %s', (api, pathAndQuery) => {
    expect(prepare({ method: 'GET', api })).toMatchObject({ pathAndQuery, path: pathAndQuery.split('?')[0] });
  });

  it("sends api's query first and params after it, so a duplicate key keeps both with api's value first", () => {
    expect(
      prepare({ method: 'GET', api: '/api/runtime-logs?level=info&id=3', params: { level: 'debug', n: 5 } }),
    ).toMatchObject({
      pathAndQuery: '/api/runtime-logs?level=info&id=3&level=debug&n=5',
      path: '/api/runtime-logs',
    });
    expect(prepare({ method: 'GET', api: '/e?a=1', params: 'b=2' }).pathAndQuery).toBe('/e?a=1&b=2');
  });

  it('sends JSON when Content-Type is absent or JSON in any case, and a form otherwise', () => {
    const noType = prepare({ method: 'POST', api: '/e', data: { a: 1 } });
    expect(noType.headers['Content-Type']).toBe('application/json');
    expect(noType.body?.toString()).toBe('{"a":1}');
    const upper = prepare({
      method: 'POST',
      api: '/e',
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
      data: [1],
    });
    expect(upper.body?.toString()).toBe('[1]');
    expect(upper.headers).toEqual({ 'content-type': 'Application/JSON; charset=utf-8' });
    const form = prepare({
      method: 'POST',
      api: '/e',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      data: { a: [1, 2], b: 'c d' },
    });
    expect(form.body?.toString()).toBe('a=1&a=2&b=c+d');
    const raw = prepare({ method: 'POST', api: '/e', headers: { 'Content-Type': 'text/plain' }, data: 'hello' });
    expect(raw.body?.toString()).toBe('hello');
  });

  it('sends no body for falsy data, as the old agent did', () => {
    for (const data of [{}, [], '', 0, false, null, undefined]) {
      expect(prepare({ method: 'POST', api: '/e', data }).body).toBeUndefined();
    }
  });

  it('drops per-hop and framing headers but forwards the rest', () => {
    const req = prepare({
      method: 'GET',
      api: '/e',
      headers: { Host: 'evil', Connection: 'close', 'Content-Length': '1', Authorization: 'Bearer t', 'X-N': 5 },
    });
    expect(req.headers).toEqual({ Authorization: 'Bearer t', 'X-N': '5' });
  });

  it('skips file entries with empty content and builds multipart with our boundary', () => {
    const req = prepare({
      method: 'POST',
      api: '/u',
      headers: { 'Content-Type': 'application/json' },
      data: { note: 'x' },
      files: { empty: { content_base64: '' }, file: { content_base64: 'aGk=', filename: 'a.st' } },
    });
    expect(req.headers['Content-Type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(Object.keys(req.headers)).toEqual(['Content-Type']);
    const body = req.body?.toString() ?? '';
    expect(body).toContain('name="note"\r\n\r\nx\r\n');
    expect(body).toContain('name="file"; filename="a.st"\r\nContent-Type: application/octet-stream\r\n\r\nhi\r\n');
    expect(body).not.toContain('name="empty"');
  });
});

describe('what refusals repeat of the command', () => {
  it.each([
    ['method', { method: 'M'.repeat(1 << 20), api: '/x' }],
    ['header name', { method: 'GET', api: '/x', headers: { [`X ${'h'.repeat(1 << 20)}`]: '1' } }],
    ['params key', { method: 'GET', api: '/x', params: { ['p'.repeat(1 << 20)]: { nested: 1 } } }],
    ['files field', { method: 'POST', api: '/x', files: { ['f'.repeat(1 << 20)]: { content_base64: '!!' } } }],
  ])('cuts a 1 MiB %s to a readable sentence', (_what, cmd) => {
    const result = validateCommand(cmd as RuntimeCommand, ALLOWED);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.length).toBeLessThan(500);
      expect(result.error).toMatch(/… \(\d+ more characters\)/);
    }
  });

  it('still sends long field names whole', () => {
    const name = 'f'.repeat(300);
    const p = prepareCommand({ method: 'POST', api: '/x', files: { [name]: { content_base64: 'aGk=' } } }, ALLOWED);
    expect(p.ok).toBe(true);
    if (p.ok) expect(p.request.body?.toString()).toContain(`name="${name}"; filename="${name}"`);
  });
});

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { proxyFailureOf, RuntimeHttpProxy } from '../../src/io/runtime-http/proxy.js';
import { BAD_COMMANDS } from '../support/runtimeHttpCases.js';

interface Seen {
  scheme: 'https' | 'http';
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

// A loopback address of our own, so port 8443 (which the proxy always speaks HTTPS to) cannot clash with anyone.
const IP = `127.77.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
const silent = pino({ level: 'silent' });

let dir: string;
let tlsServer: https.Server;
let plainServer: http.Server;
let plainPort: number;
let closedPort: number;
const seen: Seen[] = [];
let handler: Handler = (_req, res) => res.end();

function listen(scheme: 'https' | 'http') {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ scheme, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  };
}

function reply(status: number, headers: Record<string, string>, body?: Buffer | string): Handler {
  return (_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 't6-runtime-http-'));
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=openplc-runtime-test',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  const tls = { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) };
  tlsServer = https.createServer(tls, listen('https'));
  plainServer = http.createServer(listen('http'));
  await new Promise<void>((resolve, reject) => tlsServer.once('error', reject).listen(8443, IP, resolve));
  await new Promise<void>((resolve) => plainServer.listen(0, IP, resolve));
  plainPort = (plainServer.address() as AddressInfo).port;
  // A port that was just free: nothing listens there, so connecting is refused.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, IP, resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterAll(async () => {
  tlsServer?.closeAllConnections();
  plainServer?.closeAllConnections();
  await Promise.all([
    new Promise((resolve) => tlsServer?.close(resolve)),
    new Promise((resolve) => plainServer?.close(resolve)),
  ]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  seen.length = 0;
  handler = (_req, res) => res.end();
});

const proxy = (opts: Partial<ConstructorParameters<typeof RuntimeHttpProxy>[0]> = {}) =>
  new RuntimeHttpProxy({
    allowedPorts: [8443, plainPort, closedPort],
    timeoutMs: 5000,
    maxBytes: 1024 * 1024,
    log: silent,
    ...opts,
  });

describe('RuntimeHttpProxy refusals', () => {
  it.each(BAD_COMMANDS)('refuses $why with a 400 envelope and sends nothing', async ({ cmd, names }) => {
    const p = proxy();
    for (const port of [undefined, plainPort]) {
      const view = await p.request({ ip: IP }, { port, ...cmd });
      expect(view).toMatchObject({ status_code: 400, headers: {}, ok: false, content_type: 'application/json' });
      expect((view.body as { error: string }).error).toContain(names);
      expect(proxyFailureOf(view)).toBe('refused');
    }
    expect(seen).toEqual([]);
  });

  it('refuses a target without an IP address before connecting', async () => {
    const view = await proxy().request({ ip: 'runtime.example' }, { method: 'GET', api: '/api/status' });
    expect(view).toMatchObject({ status_code: 502, ok: false });
    expect(proxyFailureOf(view)).toBe('unreachable');
    expect(seen).toEqual([]);
  });
});

describe('RuntimeHttpProxy requests and response mapping', () => {
  it('speaks HTTPS to 8443 accepting the self-signed certificate and keeps header case', async () => {
    handler = reply(200, { 'Content-Type': 'application/json', 'X-Runtime-Version': '4.0' }, '{"status":"RUNNING"}');
    const view = await proxy().request({ ip: IP }, { method: 'GET', api: '/api/status' });
    expect(view).toMatchObject({
      status_code: 200,
      ok: true,
      body: { status: 'RUNNING' },
      content_type: 'application/json',
    });
    expect(view.headers['Content-Type']).toBe('application/json');
    expect(view.headers['X-Runtime-Version']).toBe('4.0');
    expect(view.body_encoding).toBeUndefined();
    expect(proxyFailureOf(view)).toBeUndefined();
    expect(seen).toMatchObject([{ scheme: 'https', method: 'GET', url: '/api/status' }]);
  });

  it('speaks plain HTTP to any other allowed port and accepts api without a leading slash', async () => {
    handler = reply(200, { 'Content-Type': 'text/plain' }, 'pong');
    const view = await proxy().request({ ip: IP }, { method: 'get', api: 'api/ping', port: plainPort });
    expect(view).toMatchObject({ status_code: 200, body: 'pong', content_type: 'text/plain' });
    expect(seen).toMatchObject([{ scheme: 'http', method: 'GET', url: '/api/ping' }]);
  });

  it('joins repeated response headers with a comma', async () => {
    handler = (_req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.end();
    };
    const view = await proxy().request({ ip: IP }, { method: 'GET', api: '/x' });
    expect(view.headers['Set-Cookie']).toBe('a=1, b=2');
  });

  it('parses JSON served as text/html (a Flask string) but not JSON-looking binary', async () => {
    handler = reply(200, { 'Content-Type': 'text/html; charset=utf-8' }, '[1,2]');
    expect(await proxy().request({ ip: IP }, { method: 'GET', api: '/x' })).toMatchObject({
      body: [1, 2],
      content_type: 'application/json',
    });
    handler = reply(200, { 'Content-Type': 'application/octet-stream' }, '{"a":1}');
    expect(await proxy().request({ ip: IP }, { method: 'GET', api: '/x' })).toMatchObject({
      body: Buffer.from('{"a":1}').toString('base64'),
      body_encoding: 'base64',
      content_type: 'application/octet-stream',
    });
  });

  it('returns invalid JSON labelled JSON as text with its real type', async () => {
    handler = reply(500, { 'Content-Type': 'application/json' }, '{oops');
    expect(await proxy().request({ ip: IP }, { method: 'GET', api: '/x' })).toMatchObject({
      status_code: 500,
      ok: false,
      body: '{oops',
      content_type: 'application/json',
    });
  });

  it('decodes text by its charset, and UTF-8 or Latin-1 when none is given', async () => {
    handler = reply(200, { 'Content-Type': 'text/plain; charset=iso-8859-1' }, Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    expect((await proxy().request({ ip: IP }, { method: 'GET', api: '/x' })).body).toBe('café');
    handler = reply(200, { 'Content-Type': 'text/plain' }, Buffer.from('café', 'utf8'));
    expect((await proxy().request({ ip: IP }, { method: 'GET', api: '/x' })).body).toBe('café');
    handler = reply(200, { 'Content-Type': 'text/csv' }, Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    expect(await proxy().request({ ip: IP }, { method: 'GET', api: '/x' })).toMatchObject({
      body: 'café',
      content_type: 'text/csv',
    });
  });

  it('returns binary bodies as base64 with their real content type', async () => {
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28]);
    handler = reply(200, { 'Content-Type': 'application/octet-stream' }, bytes);
    const view = await proxy().request({ ip: IP }, { method: 'GET', api: '/api/binary' });
    expect(view).toMatchObject({ body_encoding: 'base64', content_type: 'application/octet-stream' });
    expect(Buffer.from(view.body as string, 'base64')).toEqual(bytes);
    handler = reply(200, {}, bytes);
    expect(await proxy().request({ ip: IP }, { method: 'GET', api: '/x' })).toMatchObject({
      body: bytes.toString('base64'),
      body_encoding: 'base64',
    });
  });

  it('maps an empty body to an empty string', async () => {
    handler = reply(204, {});
    expect(await proxy().request({ ip: IP }, { method: 'DELETE', api: '/x' })).toMatchObject({
      status_code: 204,
      ok: true,
      body: '',
      content_type: 'text/plain',
    });
    handler = reply(200, { 'Content-Type': 'application/json', 'Content-Length': '2' }, '{}');
    const head = await proxy().request({ ip: IP }, { method: 'HEAD', api: '/x' });
    expect(head).toMatchObject({ status_code: 200, body: '', content_type: 'application/json' });
    expect(seen.at(-1)?.method).toBe('HEAD');
    handler = reply(200, { 'Content-Type': 'application/zip', 'Content-Length': String(50 * 1024 * 1024) });
    const bigHead = await proxy().request({ ip: IP }, { method: 'HEAD', api: '/firmware.zip' });
    expect(bigHead).toMatchObject({ status_code: 200, ok: true, body: '' });
    expect(bigHead.headers['Content-Length']).toBe(String(50 * 1024 * 1024));
  });

  it('sends JSON data, whatever the case of the JSON content type', async () => {
    handler = reply(200, {}, '');
    await proxy().request({ ip: IP }, { method: 'POST', api: '/a', data: { x: [1, 'two'] } });
    await proxy().request(
      { ip: IP },
      { method: 'put', api: '/b', headers: { 'CONTENT-TYPE': 'Application/Json' }, data: { y: true } },
    );
    await proxy().request({ ip: IP }, { method: 'PATCH', api: '/c', headers: null, data: 'text' });
    expect(seen.map((s) => [s.method, s.headers['content-type'], s.body.toString()])).toEqual([
      ['POST', 'application/json', '{"x":[1,"two"]}'],
      ['PUT', 'Application/Json', '{"y":true}'],
      ['PATCH', 'application/json', '"text"'],
    ]);
  });

  it('sends form data when the content type is not JSON', async () => {
    handler = reply(200, {}, '');
    await proxy().request(
      { ip: IP },
      {
        method: 'POST',
        api: '/login',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        data: { user: 'op', pass: 'p&w d', tag: ['a', 'b'] },
      },
    );
    expect(seen[0]?.body.toString()).toBe('user=op&pass=p%26w+d&tag=a&tag=b');
    expect(seen[0]?.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });

  it('sends no body for empty data', async () => {
    handler = reply(200, {}, '');
    await proxy().request({ ip: IP }, { method: 'POST', api: '/api/start-plc', data: {} });
    expect(seen[0]?.body.length).toBe(0);
    expect(seen[0]?.headers['content-type']).toBeUndefined();
  });

  it('forwards headers except per-hop ones and passes params with repeated keys', async () => {
    handler = reply(200, {}, '');
    await proxy().request(
      { ip: IP },
      {
        method: 'GET',
        api: '/api/echo',
        headers: { Authorization: 'Bearer abc', 'X-Trace': 7, Connection: 'upgrade', Host: 'evil.example' },
        params: { id: [1, 2], q: 'a b', skip: null },
      },
    );
    expect(seen[0]?.url).toBe('/api/echo?id=1&id=2&q=a+b');
    expect(seen[0]?.headers.authorization).toBe('Bearer abc');
    expect(seen[0]?.headers['x-trace']).toBe('7');
    expect(seen[0]?.headers.host).toBe(`${IP}:8443`);
    expect(seen[0]?.headers.connection).not.toBe('upgrade');
  });

  it('uploads files as multipart, with object data as extra fields', async () => {
    handler = reply(200, { 'Content-Type': 'application/json' }, '{"ok":true}');
    const program = Buffer.from('PROGRAM main\n  VAR x : BOOL; END_VAR\nEND_PROGRAM\n');
    const blob = Buffer.from([0, 1, 2, 255]);
    const view = await proxy().request(
      { ip: IP },
      {
        method: 'POST',
        api: '/api/upload-file',
        data: { description: 'line 1', version: 3 },
        files: {
          file: { filename: 'main.st', content_base64: program.toString('base64'), content_type: 'text/plain' },
          extra: { content_base64: blob.toString('base64') },
          skipped: { content_base64: '' },
        },
      },
    );
    expect(view.ok).toBe(true);
    const s = seen[0] as Seen;
    const form = await new Response(new Uint8Array(s.body), {
      headers: { 'content-type': String(s.headers['content-type']) },
    }).formData();
    expect(form.get('description')).toBe('line 1');
    expect(form.get('version')).toBe('3');
    const file = form.get('file') as File;
    expect(file.name).toBe('main.st');
    expect(file.type).toBe('text/plain');
    expect(Buffer.from(await file.arrayBuffer())).toEqual(program);
    const extra = form.get('extra') as File;
    expect(extra.name).toBe('extra');
    expect(extra.type).toBe('application/octet-stream');
    expect(Buffer.from(await extra.arrayBuffer())).toEqual(blob);
    expect(form.has('skipped')).toBe(false);
  });
});

describe('RuntimeHttpProxy redirects', () => {
  it('follows a redirect on the same runtime', async () => {
    handler = (req, res) => {
      if (req.url === '/old') reply(302, { Location: '/api/status' })(req, res, Buffer.alloc(0));
      else reply(200, { 'Content-Type': 'application/json' }, '{"status":"RUNNING"}')(req, res, Buffer.alloc(0));
    };
    const view = await proxy().request({ ip: IP }, { method: 'GET', api: '/old' });
    expect(view).toMatchObject({ status_code: 200, body: { status: 'RUNNING' } });
    expect(seen.map((s) => s.url)).toEqual(['/old', '/api/status']);
  });

  it('turns POST into GET on 302 and keeps method and body on 307', async () => {
    handler = (req, res) => {
      if (req.url === '/p302') reply(302, { Location: '/done' })(req, res, Buffer.alloc(0));
      else if (req.url === '/p307') reply(307, { Location: '/done' })(req, res, Buffer.alloc(0));
      else reply(200, {}, 'ok')(req, res, Buffer.alloc(0));
    };
    await proxy().request({ ip: IP }, { method: 'POST', api: '/p302', data: { a: 1 } });
    await proxy().request({ ip: IP }, { method: 'POST', api: '/p307', data: { a: 1 } });
    expect(seen.map((s) => [s.method, s.url, s.body.toString()])).toEqual([
      ['POST', '/p302', '{"a":1}'],
      ['GET', '/done', ''],
      ['POST', '/p307', '{"a":1}'],
      ['POST', '/done', '{"a":1}'],
    ]);
  });

  it('does not follow a redirect to another host or a port outside the allow-list', async () => {
    for (const location of ['http://127.0.0.1:9/x', `https://${IP}:2375/x`, `http://${IP}:8443/x`]) {
      handler = reply(302, { Location: location });
      const view = await proxy().request({ ip: IP }, { method: 'GET', api: '/away' });
      expect(view).toMatchObject({ status_code: 302, ok: true });
      expect(view.headers.Location).toBe(location);
    }
    expect(seen).toHaveLength(3);
  });

  it('stops following a redirect loop after five hops and answers with an error naming the loop', async () => {
    handler = reply(302, { Location: '/loop' });
    const view = await proxy().request({ ip: IP }, { method: 'GET', api: '/loop' });
    expect(view).toMatchObject({ status_code: 502, ok: false });
    expect((view.body as { error: string }).error).toMatch(
      /^GET \/loop on the runtime at .* redirected more than 5 times within the runtime \(last to \/loop\); the agent stopped following/,
    );
    expect(proxyFailureOf(view)).toBe('redirect_loop');
    expect(seen).toHaveLength(6);
  });

  it('answers JSON nested more than 64 levels deep with an error, and sends text that only looks deep as text', async () => {
    handler = reply(200, { 'Content-Type': 'application/json' }, `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    const deep = await proxy().request({ ip: IP }, { method: 'GET', api: '/deep' });
    expect(deep).toMatchObject({ status_code: 502, ok: false });
    expect((deep.body as { error: string }).error).toMatch(
      /is JSON nested more than 64 levels deep, which the agent does not forward/,
    );
    expect(proxyFailureOf(deep)).toBe('too_deep');
    handler = reply(200, { 'Content-Type': 'application/json' }, `${'['.repeat(64)}${']'.repeat(64)}`);
    expect((await proxy().request({ ip: IP }, { method: 'GET', api: '/deep' })).ok).toBe(true);
    handler = reply(200, { 'Content-Type': 'text/plain' }, `${'['.repeat(100)} not json`);
    expect((await proxy().request({ ip: IP }, { method: 'GET', api: '/deep' })).body).toBe(
      `${'['.repeat(100)} not json`,
    );
    handler = reply(200, { 'Content-Type': 'application/json' }, JSON.stringify({ s: '[[[['.repeat(100) }));
    expect((await proxy().request({ ip: IP }, { method: 'GET', api: '/deep' })).ok).toBe(true);
  });
});

describe('RuntimeHttpProxy limits and failures', () => {
  it('gives up after the timeout with a 504 sentence', async () => {
    handler = () => {};
    const view = await proxy({ timeoutMs: 300 }).request({ ip: IP }, { method: 'GET', api: '/api/slow' });
    expect(view).toMatchObject({ status_code: 504, ok: false, headers: {}, content_type: 'application/json' });
    expect((view.body as { error: string }).error).toMatch(/GET \/api\/slow .* did not answer within 0.3 s/);
    expect(proxyFailureOf(view)).toBe('timeout');
  });

  it('refuses a response whose declared length exceeds the cap', async () => {
    handler = reply(200, { 'Content-Type': 'text/plain' }, Buffer.alloc(2048, 0x61));
    const view = await proxy({ maxBytes: 1024 }).request({ ip: IP }, { method: 'GET', api: '/api/big' });
    expect(view).toMatchObject({ status_code: 502, ok: false });
    expect((view.body as { error: string }).error).toContain('larger than the 1024 bytes limit');
    expect(proxyFailureOf(view)).toBe('too_large');
  });

  it('stops reading a streamed response once it passes the cap', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 0x62);
      let sent = 0;
      const pump = () => {
        while (sent < 4 * 1024 * 1024 && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => {
        sent = Number.POSITIVE_INFINITY;
      });
      pump();
    };
    const view = await proxy({ maxBytes: 1024 * 1024 }).request({ ip: IP }, { method: 'GET', api: '/api/big' });
    expect(proxyFailureOf(view)).toBe('too_large');
    expect((view.body as { error: string }).error).toContain('1 MiB');
  });

  it('reports a refused connection as a 502 sentence', async () => {
    const view = await proxy().request({ ip: IP }, { method: 'GET', api: '/api/status', port: closedPort });
    expect(view).toMatchObject({ status_code: 502, ok: false });
    expect((view.body as { error: string }).error).toMatch(/Could not reach GET \/api\/status .*ECONNREFUSED/);
    expect(proxyFailureOf(view)).toBe('unreachable');
  });

  it('reports a cancelled request', async () => {
    handler = () => {};
    const controller = new AbortController();
    const pending = proxy().request({ ip: IP }, { method: 'GET', api: '/hang' }, controller.signal);
    setTimeout(() => controller.abort(), 50);
    const view = await pending;
    expect(proxyFailureOf(view)).toBe('cancelled');
    expect(view.ok).toBe(false);
  });

  it('never logs headers, data, params or file contents', async () => {
    handler = reply(200, { 'Content-Type': 'application/json' }, '{"ok":true}');
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = pino({ level: 'trace' }, sink);
    await proxy({ log }).request(
      { ip: IP },
      {
        method: 'POST',
        api: '/api/upload-file',
        headers: { Authorization: 'Bearer SECRET-TOKEN' },
        params: { token: 'SECRET-PARAM' },
        data: { password: 'SECRET-DATA' },
        files: { f: { content_base64: Buffer.from('SECRET-FILE').toString('base64'), filename: 'x' } },
      },
    );
    await proxy({ log }).request({ ip: IP }, { method: 'GET', api: '/x?y', headers: { Authorization: 'SECRET-2' } });
    const text = lines.join('');
    expect(text).not.toMatch(/SECRET/);
    expect(text).toMatch(/"method":"POST"/);
    expect(text).toMatch(/"api":"\/api\/upload-file"/);
    expect(text).toMatch(/"status":200/);
    expect(text).toMatch(/"bytes":11/);
    expect(text).toMatch(/"duration_ms":\d+/);
  });
});

describe('what the proxy logs', () => {
  it('logs answered reads at debug and answered changes at info', async () => {
    const levels: Array<[string, number]> = [];
    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _encoding, done) {
          const line = JSON.parse(String(chunk));
          if (line.step === 'runtime_http.done') levels.push([line.method, line.level]);
          done();
        },
      }),
    );
    handler = reply(200, { 'Content-Type': 'application/json' }, '{}');
    const logged = proxy({ log });
    for (const method of ['GET', 'head', 'POST', 'delete']) await logged.request({ ip: IP }, { method, api: '/x' });
    expect(levels).toEqual([
      ['GET', 20],
      ['HEAD', 20],
      ['POST', 30],
      ['DELETE', 30],
    ]);
  });
});

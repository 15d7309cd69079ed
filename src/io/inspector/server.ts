import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { isLoopbackHost, type ListenAddress, showListenAddress } from '../../model/listen.js';
import { type Listening, listenHttp } from '../http/listen.js';

/**
 * The inspector's web server (docs/protocol.md#inspector): one page and its scripts, all served from here — no
 * request of the page leaves this server — plus the live data as JSON and server-sent events.
 *
 *   GET /                 the page (assets/index.html)
 *   GET /assets/<file>    its script and style sheet
 *   GET /vendor/viz.js    Graphviz compiled to WebAssembly (@viz-js/viz), which draws the diagrams in the page
 *   GET /api/state        everything the page shows, now
 *   GET /api/diagrams     each machine's diagram as DOT
 *   GET /api/events       server-sent events: `state` (the whole picture, first) then `batch` updates
 *
 * Outside loopback it demands a token (`?token=` once, kept as a cookie, or `Authorization: Bearer`). The Host
 * header must name this server, so a web page elsewhere cannot reach it through DNS rebinding.
 */

/** What the server serves, from the running system (the actors build it). */
export interface InspectorFeed {
  snapshot(): unknown;
  diagrams(): Record<string, string>;
  /** Live updates for one viewer; returns the unsubscribe. */
  subscribe(send: (batch: unknown) => void): () => void;
}

export interface InspectorServerOptions {
  at: ListenAddress;
  /** Required off loopback (with `allowRemote`). */
  token: string | null;
  allowRemote: boolean;
  feed: InspectorFeed;
  log: Logger;
  /** A viewer whose unsent output passes this is dropped (its browser reconnects and starts afresh). */
  maxBufferedBytes?: number;
}

/**
 * The page's files: beside this module when it runs from source or from tsc's output; the release build bundles
 * this module into dist/src/main.js or one of its chunks (dist/src/chunks/) and copies the files to
 * dist/src/io/inspector/assets (package.json's build script).
 */
const ASSETS = locateAssets(dirname(fileURLToPath(import.meta.url)));

function locateAssets(here: string): string {
  const candidates = [
    join(here, 'assets'),
    join(here, 'io', 'inspector', 'assets'),
    join(here, '..', 'io', 'inspector', 'assets'),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? (candidates[0] as string);
}
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: join(ASSETS, 'index.html'), type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: join(ASSETS, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: join(ASSETS, 'app.css'), type: 'text/css; charset=utf-8' },
  '/vendor/viz.js': {
    // The browser build beside the package's own entry point.
    file: join(dirname(createRequire(import.meta.url).resolve('@viz-js/viz')), 'viz-global.js'),
    type: 'text/javascript; charset=utf-8',
  },
};

// Graphviz runs as WebAssembly compiled in the page: 'wasm-unsafe-eval' allows that and nothing else.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const COOKIE = 'orchestrator_inspector';

export class InspectorRefused extends Error {
  override readonly name = 'InspectorRefused';
}

export async function serveInspector(opts: InspectorServerOptions): Promise<Listening> {
  const { at, token, feed, log } = opts;
  // Checked here as well as in the configuration: whoever builds the server cannot open it by mistake.
  if (!isLoopbackHost(at.host) && (!opts.allowRemote || token === null)) {
    throw new InspectorRefused(
      `the inspector does not listen on ${showListenAddress(at)}: it is not a loopback address, and serving it beyond ` +
        'this host needs --inspect-allow-remote and a token in ORCH_INSPECT_TOKEN',
    );
  }
  const maxBuffered = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
  const tokenHash = token === null ? null : sha256(token);
  const cache = new Map<string, Buffer>();
  const streams = new Set<() => void>();
  let port = at.port;

  const read = async (file: string) => {
    let body = cache.get(file);
    if (!body) {
      body = await readFile(file);
      cache.set(file, body);
    }
    return body;
  };

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, extra = {}) => {
    res.writeHead(status, { 'content-type': type, ...SECURITY_HEADERS, ...extra });
    res.end(body);
  };
  const text = (res: ServerResponse, status: number, message: string) =>
    send(res, status, 'text/plain; charset=utf-8', `${message}\n`);

  const hostAllowed = (req: IncomingMessage) => {
    const host = req.headers.host;
    if (host === undefined) return false;
    if (!isLoopbackHost(at.host)) return true;
    return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${at.host}:${port}`].includes(host);
  };

  /** True when allowed; with `?token=` right, the answer also sets the cookie that carries it from then on. */
  const authorized = (req: IncomingMessage, url: URL): { ok: boolean; setCookie: boolean } => {
    if (tokenHash === null) return { ok: true, setCookie: false };
    const given: string[] = [];
    const query = url.searchParams.get('token');
    if (query !== null) given.push(query);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (bearer) given.push(bearer[1]!);
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === COOKIE) given.push(decodeURIComponent(v.join('=')));
    }
    const ok = given.some((g) => timingSafeEqual(sha256(g), tokenHash));
    return { ok, setCookie: ok && query !== null };
  };

  const events = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', ...SECURITY_HEADERS });
    const write = (event: string, data: unknown) => {
      if (res.writableLength > maxBuffered) {
        log.warn(
          { step: 'inspector.viewer_dropped', buffered: res.writableLength },
          'inspector viewer too slow; dropped',
        );
        end();
        return;
      }
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    write('state', feed.snapshot());
    const unsubscribe = feed.subscribe((batch) => write('batch', batch));
    // A comment line now and then keeps proxies and the browser from timing the stream out.
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const end = () => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(end);
      res.destroy();
    };
    streams.add(end);
    req.on('close', end);
  };

  const listening = await listenHttp(
    at,
    '--inspect',
    (req, res) => {
      void (async () => {
        if (!hostAllowed(req)) return text(res, 421, 'this inspector answers only requests addressed to it');
        const url = new URL(req.url ?? '/', 'http://inspector.invalid');
        const auth = authorized(req, url);
        if (!auth.ok) {
          return text(res, 401, 'this inspector needs its token: open it as /?token=<ORCH_INSPECT_TOKEN>');
        }
        if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'the inspector only reads');
        const cookie = auth.setCookie
          ? { 'set-cookie': `${COOKIE}=${encodeURIComponent(token!)}; HttpOnly; SameSite=Strict; Path=/` }
          : {};
        const asset = FILES[url.pathname];
        if (asset) return send(res, 200, asset.type, await read(asset.file), cookie);
        if (url.pathname === '/api/state') {
          return send(res, 200, 'application/json', JSON.stringify(feed.snapshot()), cookie);
        }
        if (url.pathname === '/api/diagrams') {
          return send(res, 200, 'application/json', JSON.stringify(feed.diagrams()), cookie);
        }
        if (url.pathname === '/api/events') return events(req, res);
        return text(res, 404, 'not found');
      })().catch((err: unknown) => {
        log.error({ err }, 'inspector request failed');
        if (!res.headersSent) text(res, 500, 'the inspector could not answer; see the agent log');
        else res.destroy();
      });
    },
    () => {
      for (const end of [...streams]) end();
    },
  );
  port = listening.address.port;
  log.info({ url: listening.url, remote: !isLoopbackHost(at.host) }, 'inspector listening');
  return listening;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

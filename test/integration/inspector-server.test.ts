import { request } from 'node:http';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Listening } from '../../src/io/http/listen.js';
import { InspectorRefused, serveInspector } from '../../src/io/inspector/server.js';

/**
 * The inspector's web server over real HTTP: where it agrees to listen, who gets in, and what it answers. The feed is
 * a plain data source here; the browser test drives it from the running agent.
 */
const log = pino({ level: 'silent' });
const TOKEN = 'i15-a-token-long-enough';
const feed = {
  snapshot: () => ({ actors: [], log: [], timelines: {}, dropped: 0 }),
  diagrams: () => ({ vplc: 'digraph { a -> b }' }),
  subscribe: () => () => {},
};
let open: Listening | null = null;

afterEach(async () => {
  await open?.close();
  open = null;
});

/** A GET with the Host header and extra headers as given (fetch would set Host itself). */
function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, headers: { host: `127.0.0.1:${port}`, ...headers } },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the inspector server', () => {
  it('refuses a non-loopback address without --inspect-allow-remote and a token', async () => {
    for (const at of [
      { host: '0.0.0.0', port: 0 },
      { host: '::', port: 0 },
    ]) {
      await expect(serveInspector({ at, token: null, allowRemote: false, feed, log })).rejects.toThrow(
        InspectorRefused,
      );
      await expect(serveInspector({ at, token: null, allowRemote: true, feed, log })).rejects.toThrow(
        /is not a loopback address, and serving it beyond this host needs --inspect-allow-remote and a token/,
      );
      await expect(serveInspector({ at, token: TOKEN, allowRemote: false, feed, log })).rejects.toThrow(
        InspectorRefused,
      );
    }
  });

  it('serves the page, its assets and the bundled renderer on loopback, with a strict CSP', async () => {
    open = await serveInspector({ at: { host: '127.0.0.1', port: 0 }, token: null, allowRemote: false, feed, log });
    const { port } = open.address;
    const page = await get(port, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script src="/vendor/viz.js"');
    expect(page.body).not.toMatch(/https?:\/\//);
    expect(String(page.headers['content-security-policy'])).toContain("default-src 'none'");
    expect((await get(port, '/vendor/viz.js')).body).toContain('Viz.js');
    expect((await get(port, '/assets/app.js')).status).toBe(200);
    expect(JSON.parse((await get(port, '/api/diagrams')).body)).toEqual({ vplc: 'digraph { a -> b }' });
    expect((await get(port, '/etc/passwd')).status).toBe(404);
    expect((await get(port, '/assets/../server.ts')).status).toBe(404);
    // DNS rebinding: a page elsewhere that resolves its own name to 127.0.0.1 sends its own Host.
    expect((await get(port, '/api/state', { host: `evil.example:${port}` })).status).toBe(421);
  });

  it('lets in, off loopback, only requests that carry the token', async () => {
    open = await serveInspector({ at: { host: '0.0.0.0', port: 0 }, token: TOKEN, allowRemote: true, feed, log });
    const { port } = open.address;
    expect((await get(port, '/api/state')).status).toBe(401);
    expect((await get(port, '/?token=wrong-token-of-some-length')).status).toBe(401);
    expect((await get(port, '/api/state', { authorization: `Bearer ${TOKEN}x` })).status).toBe(401);
    expect((await get(port, '/api/state', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    const first = await get(port, `/?token=${TOKEN}`);
    expect(first.status).toBe(200);
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    expect(String(first.headers['set-cookie'])).toContain('HttpOnly');
    expect((await get(port, '/api/state', { cookie })).status).toBe(200);
  });
});

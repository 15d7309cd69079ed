import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * A Docker engine API that has nothing and can do nothing, on a Unix socket of its own: for end-to-end tests that
 * need a running agent but no runtime, so that the agent's start-up reconciliation (which adopts labelled containers
 * and removes unused networks it made) never touches the shared engine other tests use. Lists are empty, lookups are
 * 404, the event stream stays open and silent, anything that would change something fails with 500.
 */
export interface StubDocker {
  readonly socketPath: string;
  /** `METHOD path` of every request, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startStubDocker(socketPath: string): Promise<StubDocker> {
  await rm(socketPath, { force: true });
  const requests: string[] = [];
  const open = new Set<ServerResponse>();
  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(text)),
      'Api-Version': '1.41',
    });
    res.end(text);
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/^\/v\d+\.\d+/, '');
    requests.push(`${req.method} ${path}`);
    req.resume();
    if (path === '/_ping') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Api-Version': '1.41' });
      return res.end('OK');
    }
    if (path === '/version')
      return json(res, 200, { ApiVersion: '1.41', Version: '20.10.0-stub', MinAPIVersion: '1.12' });
    if (path === '/info') return json(res, 200, { ID: 'stub', Containers: 0, ServerVersion: '20.10.0-stub' });
    if (path === '/events') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      open.add(res);
      res.on('close', () => open.delete(res));
      return;
    }
    if (
      req.method === 'GET' &&
      (path === '/containers/json' || path === '/networks' || path === '/volumes' || path === '/images/json')
    ) {
      return json(res, 200, path === '/volumes' ? { Volumes: [] } : []);
    }
    if (req.method === 'GET') return json(res, 404, { message: `No such object: ${path}` });
    return json(res, 500, { message: `the stub engine cannot ${req.method} ${path}` });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    requests,
    async close() {
      for (const res of open) res.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(socketPath, { force: true });
    },
  };
}

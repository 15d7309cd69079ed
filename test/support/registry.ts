import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

/**
 * A real image registry on loopback: Debian's `docker-registry` (distribution 2.8) with an empty store, so a pull
 * of any tag is answered the way a registry answers a tag it does not have (`manifest unknown`, HTTP 404). dockerd
 * trusts loopback registries over plain HTTP, so no daemon flag is needed.
 *
 *   const registry = await startRegistry('i11a');
 *   const image = `${registry.host}/i11a-openplc:latest`;
 *   ...
 *   await registry.stop();
 */
export interface TestRegistry {
  /** `127.0.0.1:<port>`: the registry part of image references. */
  host: string;
  stop(): Promise<void>;
}

const REGISTRY_BINARY = '/usr/bin/docker-registry';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function startRegistry(prefix: string): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-registry-`));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'store')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const host = `127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr.trim()}`);
        return (await fetch(`http://${host}/v2/`)).status === 200;
      },
      { timeoutMs: 15_000, intervalMs: 100, message: `the registry at ${host}` },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, stop };
}

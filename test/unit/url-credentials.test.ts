import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, parseConfig } from '../../src/config.js';
import { CloudConnector } from '../../src/io/cloud/connection.js';
import { loadClientIdentity } from '../../src/io/cloud/identity.js';
import { makeTestPki } from '../support/certs.js';
import { displayUrl, scrubUrlCredentials } from '../../src/model/urls.js';

/** --cloud-url may carry a user and password; they never appear in what the agent prints. */

const SECRET = 's3cr3t-pw';

describe('URL credentials', () => {
  it.each([
    ['https://agent:s3cr3t-pw@cloud.test:3001', 'https://[redacted]@cloud.test:3001/'],
    ['https://agent:s3cr3t-pw@cloud.test/socket', 'https://[redacted]@cloud.test/socket'],
    ['http://s3cr3t-pw@cloud.test', 'http://[redacted]@cloud.test/'],
    ['https://agent:p@ss@s3cr3t-pw@cloud.test', 'https://[redacted]@cloud.test/'],
    ['https://cloud.test:3001', 'https://cloud.test:3001'],
    ['https://agent:s3cr3t-pw@', 'https://[redacted]@'],
  ])('shows %s as %s', (given, shown) => {
    expect(displayUrl(given)).toBe(shown);
  });

  it('scrubs every URL in a text and leaves an @ in a path alone', () => {
    expect(scrubUrlCredentials('cannot reach wss://u:s3cr3t-pw@h:1/socket.io/?x=1 nor https://a:b@c')).toBe(
      'cannot reach wss://[redacted]@h:1/socket.io/?x=1 nor https://[redacted]@c',
    );
    expect(scrubUrlCredentials('GET https://host/users/a@b.example')).toBe('GET https://host/users/a@b.example');
  });

  it('keeps them out of the start-up banner', async () => {
    const mtls = await mkdtemp(join(tmpdir(), 'url-credentials-'));
    try {
      await writeFile(join(mtls, 'client.crt'), '');
      await writeFile(join(mtls, 'client.key'), '');
      const config = await parseConfig(
        ['--cloud-url', `https://agent:${SECRET}@cloud.test:3001`, '--mtls-dir', mtls],
        {},
      );
      const banner = describeConfig(config);
      expect(banner.cloudUrl).toBe('https://[redacted]@cloud.test:3001/');
      expect(JSON.stringify(banner)).not.toContain(SECRET);
    } finally {
      await rm(mtls, { recursive: true, force: true });
    }
  });

  it('keeps them out of the refusal of a bad --cloud-url', async () => {
    for (const url of [`ftp://agent:${SECRET}@cloud.test`, `https://agent:${SECRET}@`]) {
      const error = await parseConfig(['--cloud-url', url], {}).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/^--cloud-url: ".*\[redacted\]@.*" is not an http\(s\) URL$/);
      expect((error as Error).message).not.toContain(SECRET);
    }
  });

  it('keeps them out of connection errors', async () => {
    const pki = await makeTestPki();
    try {
      const identity = await loadClientIdentity(pki.mtlsDir, pki.caFile);
      const log = pino({ level: 'silent' });
      const refused = new CloudConnector({
        url: `https://agent:${SECRET}@127.0.0.1:${await closedPort()}`,
        identity,
        log,
      });
      const error = String(await refused.connect().catch((err: unknown) => err));
      expect(error).toMatch(/^CloudConnectError: cannot connect to https:\/\/\[redacted\]@127\.0\.0\.1:\d+\/: /);
      expect(error).not.toContain(SECRET);
      const silent = createServer().listen(0, '127.0.0.1');
      await new Promise((resolve) => silent.once('listening', resolve));
      const port = (silent.address() as { port: number }).port;
      const slow = new CloudConnector({
        url: `https://agent:${SECRET}@127.0.0.1:${port}`,
        identity,
        log,
        connectTimeoutMs: 300,
      });
      const timeout = String(await slow.connect().catch((err: unknown) => err));
      silent.close();
      expect(timeout).toMatch(/no answer from https:\/\/\[redacted\]@127\.0\.0\.1:\d+\/ within 300 ms/);
    } finally {
      await pki.cleanup();
    }
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

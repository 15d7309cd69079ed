import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { signClientCsr, type TestPki } from './certs.js';

/**
 * For the tests that run the built images (test/images): the images `.ci/run` builds once (phase "images"), the
 * installer, a stand-in of the cloud's enrolment API, and the Docker CLI. The fixed names below are the ones the
 * installer and the old agent use; these tests run one file at a time (vitest fileParallelism: false).
 */
const sh = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;

export const DOCKER = '/usr/bin/docker';
export const AGENT_IMAGE = 'ghcr.io/autonomy-logic/orchestrator-agent:latest';
export const NETMON_IMAGE = 'ghcr.io/autonomy-logic/autonomy-netmon:latest';
export const INSTALLER = join(root, 'install/install.sh');
export const FIXED_CONTAINERS = [
  'orchestrator_agent',
  'autonomy_netmon',
  'orchestrator_upgrader',
  'orchestrator_cleanup',
];
export const SHARED_VOLUME = 'orchestrator-shared';
export const REGISTRY = '127.0.0.1:5000';

export async function docker(...args: string[]): Promise<string> {
  try {
    return (await sh(DOCKER, args, { maxBuffer: 16 * 1024 * 1024 })).stdout.trim();
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`docker ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

export const exists = (kind: 'container' | 'volume' | 'network' | 'image', name: string) =>
  docker(kind, 'inspect', name).then(
    () => true,
    () => false,
  );

function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/**
 * True when both images are on the engine. Outside CI, absent images skip the file with one line saying how to
 * build them; in CI they must be there (the "images" phase built them), so their absence fails the run.
 */
export async function imagesOrSkip(): Promise<boolean> {
  const present = (await exists('image', AGENT_IMAGE)) && (await exists('image', NETMON_IMAGE));
  if (present) return true;
  const how = 'build them with: bash scripts/build-images.sh --local-base';
  if (inCi()) throw new Error(`CI must run the image tests, but ${AGENT_IMAGE} or ${NETMON_IMAGE} is missing; ${how}`);
  console.warn(`[images] ${AGENT_IMAGE} or ${NETMON_IMAGE} missing: skipping the image tests (${how})`);
  return false;
}

/** The fixed names must be free: these tests never remove a container or volume they did not make. */
export async function assertFixedNamesFree(): Promise<void> {
  for (const name of FIXED_CONTAINERS)
    if (await exists('container', name))
      throw new Error(`a container named ${name} already exists on this engine; the image tests need that name free`);
  if (await exists('volume', SHARED_VOLUME))
    throw new Error(`a volume named ${SHARED_VOLUME} already exists on this engine; the image tests need it free`);
}

/** The host's address on Docker's default bridge, where a container on it reaches a server of the host. */
export async function bridgeAddress(): Promise<string> {
  // dockerd 20.10 leaves the default bridge's IPAM gateway empty: read the bridge interface's own address.
  const iface =
    (await docker('network', 'inspect', 'bridge', '--format', '{{index .Options "com.docker.network.bridge.name"}}')) ||
    'docker0';
  const { stdout } = await sh('ip', ['-4', '-o', 'addr', 'show', 'dev', iface]);
  const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(stdout)?.[1];
  if (!ip) throw new Error(`the default bridge ${iface} has no IPv4 address; restart dockerd to recreate it`);
  return ip;
}

export async function runInstaller(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return await new Promise((resolve) => {
    execFile(
      'bash',
      [INSTALLER, ...args],
      { env: { ...process.env, ...env }, timeout: 300_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

/** The enrolment API of the old installer (reference §14 step 5), signing with the test PKI's CA. */
export interface EnrolmentApi {
  url: string;
  /** Every request path, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startEnrolmentApi(pki: TestPki, orchestratorId: string): Promise<EnrolmentApi> {
  const requests: string[] = [];
  const server: Server = createServer({ key: pki.server.keyPem, cert: pki.server.certPem }, (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/orchestrators/id') {
      reply(200, { data: { id: orchestratorId, expiresAt: '2026-12-31T00:00:00.000Z', expiresIn: 600 } });
      return;
    }
    if (req.method === 'POST' && req.url === '/orchestrators/enroll') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const csr = /-----BEGIN CERTIFICATE REQUEST-----[\s\S]+?-----END CERTIFICATE REQUEST-----/.exec(body)?.[0];
        if (!body.includes('name="csr"') || !csr) {
          reply(400, { statusCode: 400, message: 'multipart field csr is missing' });
          return;
        }
        signClientCsr(pki, `${csr}\n`).then(
          (certificate) => reply(200, { statusCode: 200, data: { certificate } }),
          (err: Error) => reply(500, { statusCode: 500, message: err.message }),
        );
      });
      return;
    }
    reply(404, { statusCode: 404 });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

import Docker from 'dockerode';

/**
 * Gate for test files that need a Docker engine.
 *
 *   const docker = await dockerOrSkip();          // top-level await is fine in vitest ESM test files
 *   describe.skipIf(!docker)('DockerEngine against the real dockerd', () => { ... });
 *
 * In CI (`CI` set) an unreachable engine is an error, never a silent skip: a green run must mean the Docker
 * tests ran. Locally the file is skipped with one visible warning line.
 */

const PING_TIMEOUT_MS = 2000;

/** Accepts a socket path, `unix:///path` (the DOCKER_HOST form) or `tcp://host:port`. */
function dockerOptions(endpoint: string): Docker.DockerOptions {
  if (endpoint.startsWith('unix://')) return { socketPath: endpoint.slice('unix://'.length), timeout: PING_TIMEOUT_MS };
  if (/^(tcp|http):\/\//.test(endpoint)) {
    const url = new URL(endpoint.replace(/^tcp:/, 'http:'));
    return { protocol: 'http', host: url.hostname, port: Number(url.port || 2375), timeout: PING_TIMEOUT_MS };
  }
  return { socketPath: endpoint, timeout: PING_TIMEOUT_MS };
}

/** True when the engine at `socketPath` answers `/_ping` within 2 s. Never throws. */
export async function dockerReachable(
  socketPath: string = process.env.DOCKER_HOST ?? '/var/run/docker.sock',
): Promise<boolean> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), PING_TIMEOUT_MS);
  try {
    const docker = new Docker(dockerOptions(socketPath));
    // dockerode accepts abortSignal on every call; its typings omit it.
    const ping = docker.ping.bind(docker) as unknown as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
    await ping({ abortSignal: controller.signal });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** Resolves true when Docker tests can run; false (with a warning) locally; throws in CI when dockerd is down. */
export async function dockerOrSkip(): Promise<boolean> {
  if (await dockerReachable()) return true;
  const where = process.env.DOCKER_HOST ?? '/var/run/docker.sock';
  if (inCi()) {
    throw new Error(
      `CI requires a running dockerd, but the Docker engine at ${where} did not answer a ping within ` +
        `${PING_TIMEOUT_MS} ms. Start it (.ci/run does: setsid /usr/sbin/dockerd --host unix:///var/run/docker.sock) ` +
        'and run the tests again; Docker tests are never skipped in CI.',
    );
  }
  console.warn('[docker] dockerd unreachable: skipping Docker tests');
  return false;
}

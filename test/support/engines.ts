import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';

/**
 * The Docker engines Docker-adapter tests run against: the machine's dockerd 20.10 (API 1.41) and the second engine
 * 26.1 (API 1.45) started by scripts/start-docker26.sh, so both create paths (one network at create + connect, and
 * every endpoint at create) are proven.
 *
 *   const engines = await testEngines();
 *   describe.each(engines)('on Docker $label', ({ socketPath }) => { ... });
 *
 * In CI (`CI` set) both must answer (the 26 engine is started here when its script can): a missing engine is an
 * error, never a silent skip. Locally a missing engine is skipped with one visible warning line.
 */

export interface TestEngine {
  label: '20.10' | '26';
  socketPath: string;
  apiVersion: string;
}

const CANDIDATES: ReadonlyArray<{ label: TestEngine['label']; socketPath: string }> = [
  { label: '20.10', socketPath: '/var/run/docker.sock' },
  { label: '26', socketPath: '/opt/docker26/docker.sock' },
];

const START_DOCKER26 = fileURLToPath(new URL('../../scripts/start-docker26.sh', import.meta.url));
const PING_TIMEOUT_MS = 2000;

function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

async function apiVersionOf(socketPath: string): Promise<string | undefined> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), PING_TIMEOUT_MS);
  try {
    const docker = new Docker({ socketPath });
    // dockerode accepts abortSignal on every call; its typings omit it.
    const version = docker.version.bind(docker) as unknown as (o: object) => Promise<Docker.DockerVersion>;
    return (await version({ abortSignal: controller.signal })).ApiVersion;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

function startDocker26(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [START_DOCKER26], { timeout: 180_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`scripts/start-docker26.sh failed: ${(stderr || err.message).trim()}`));
      else resolve(stdout.trim());
    });
  });
}

let listing: Promise<TestEngine[]> | undefined;

/** The engines that answer (each asked once per test process). */
export function testEngines(): Promise<TestEngine[]> {
  listing ??= findEngines();
  return listing;
}

async function findEngines(): Promise<TestEngine[]> {
  const found: TestEngine[] = [];
  for (const candidate of CANDIDATES) {
    let apiVersion = await apiVersionOf(candidate.socketPath);
    if (apiVersion === undefined && candidate.label === '26' && inCi()) {
      await startDocker26();
      apiVersion = await apiVersionOf(candidate.socketPath);
    }
    if (apiVersion !== undefined) {
      found.push({ ...candidate, apiVersion });
      continue;
    }
    const how =
      candidate.label === '26'
        ? 'start it with scripts/start-docker26.sh'
        : 'start it with: setsid dockerd --host unix:///var/run/docker.sock >/tmp/dockerd.log 2>&1 &';
    if (inCi()) {
      throw new Error(
        `CI requires Docker ${candidate.label} at ${candidate.socketPath}, but it did not answer within ${PING_TIMEOUT_MS} ms; ${how}. Docker tests are never skipped in CI.`,
      );
    }
    console.warn(
      `[docker] engine ${candidate.label} at ${candidate.socketPath} unreachable: skipping its tests (${how})`,
    );
  }
  return found;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/**
 * A veth pair whose first end serves as a MACVLAN parent (the kernel here has no `dummy` link type). Names must be
 * at most 15 characters and carry the test's prefix. Recreated when it exists.
 */
export async function ensureVeth(parent: string, peer: string): Promise<void> {
  await removeVeth(parent);
  await run('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', peer]);
  await run('ip', ['link', 'set', parent, 'up']);
  await run('ip', ['link', 'set', peer, 'up']);
}

/** Delete a veth pair by one end; absent is fine. */
export async function removeVeth(parent: string): Promise<void> {
  await run('ip', ['link', 'del', parent]).catch(() => undefined);
}

/**
 * Remove every container whose name starts with `containerPrefix` and every network whose name starts with one of
 * `networkPrefixes` on the engine at `socketPath` (test cleanup; prefixes are unique to one test file).
 */
export async function removeTestObjects(
  socketPath: string,
  containerPrefix: string,
  networkPrefixes: readonly string[],
): Promise<void> {
  const docker = new Docker({ socketPath });
  const containers = await docker.listContainers({ all: true });
  await Promise.all(
    containers
      .filter((c) => c.Names.some((n) => n.replace(/^\//, '').startsWith(containerPrefix)))
      .map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
  );
  const networks = await docker.listNetworks();
  await Promise.all(
    networks
      .filter((n) => networkPrefixes.some((p) => n.Name.startsWith(p)))
      .map((n) =>
        docker
          .getNetwork(n.Id)
          .remove()
          .catch(() => undefined),
      ),
  );
}

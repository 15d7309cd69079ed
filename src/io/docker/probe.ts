import Dockerode from 'dockerode';
import type { EngineAddress } from './engine.js';
import { toEngineError } from './errors.js';

/**
 * One-off questions to an engine for `doctor`: what it is, and whether it grants the runtime's ulimits. Each
 * answers within its timeout and reports failures as the adapter's typed errors.
 */

export interface EngineFacts {
  version: string;
  apiVersion: string;
  /** Docker's data root (images, containers), on the engine's host. */
  rootDir: string | null;
  /** The engine's clock when it answered. */
  systemTime: string | null;
}

function docker(address: EngineAddress): Dockerode {
  return 'socketPath' in address ? new Dockerode({ socketPath: address.socketPath }) : new Dockerode(address);
}

async function bounded<T>(action: string, timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fn(controller.signal);
  } catch (err) {
    throw toEngineError(err, { action, timeoutMs });
  } finally {
    clearTimeout(timer);
  }
}

/** dockerode accepts `abortSignal` on these calls; its typings do not say so. */
type WithSignal = {
  version(o: object): Promise<Dockerode.DockerVersion>;
  info(o: object): Promise<{ DockerRootDir?: string; SystemTime?: string }>;
};

export async function engineFacts(address: EngineAddress, timeoutMs = 3_000): Promise<EngineFacts> {
  const d = docker(address) as unknown as WithSignal;
  const version = await bounded('read the engine version', timeoutMs, (abortSignal) => d.version({ abortSignal }));
  const info = await bounded('read the engine info', timeoutMs, (abortSignal) => d.info({ abortSignal })).catch(
    () => ({}) as { DockerRootDir?: string; SystemTime?: string },
  );
  return {
    version: version.Version,
    apiVersion: version.ApiVersion,
    rootDir: info.DockerRootDir ?? null,
    systemTime: info.SystemTime ?? null,
  };
}

export async function imagePresent(address: EngineAddress, image: string, timeoutMs = 3_000): Promise<boolean> {
  try {
    await bounded(`inspect image ${image}`, timeoutMs, () => docker(address).getImage(image).inspect());
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'image_missing' || (err as { code?: string }).code === 'not_found') {
      return false;
    }
    throw err;
  }
}

export type UlimitProbe = { granted: true } | { granted: false; engineMessage: string };

/**
 * Whether the engine grants these ulimits to a container of `image`: a throw-away container is created with them
 * and an entry point that does not exist. The runtime sets the limits before it looks for the program, so a refusal
 * of the limits comes first; "no such file" means they were granted. Nothing runs, and the container is removed.
 */
export async function probeUlimits(
  address: EngineAddress,
  image: string,
  ulimits: ReadonlyArray<{ name: string; soft: number; hard: number }>,
  name: string,
  timeoutMs = 15_000,
): Promise<UlimitProbe> {
  const d = docker(address);
  const container = await bounded(`create the probe container ${name}`, timeoutMs, () =>
    d.createContainer({
      name,
      Image: image,
      Entrypoint: ['/nonexistent-orchestrator-doctor-probe'],
      Cmd: [],
      Labels: { 'edge.autonomy.role': 'doctor-probe' },
      HostConfig: {
        NetworkMode: 'none',
        Ulimits: ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      },
    }),
  );
  try {
    await bounded(`start the probe container ${name}`, timeoutMs, () => container.start());
    return { granted: true };
  } catch (err) {
    const message = (err as { engineMessage?: string }).engineMessage ?? String(err);
    if (/rlimit/i.test(message)) return { granted: false, engineMessage: message };
    if (/no such file|not found|executable file/i.test(message)) return { granted: true };
    throw err;
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/**
 * The agent's own containers (`orchestrator_agent`, `autonomy_netmon`, the upgrader) as the upgrade and the
 * installer shape them: inspect, recreate from another image keeping what a person set, rename aside and back,
 * follow logs, drop a file into a volume. Used by `upgrade_orchestrator` (actors/orchestrator/upgrade.ts) and the
 * upgrader (cli/upgrader). Every call is bounded and rejects with a typed error (errors.ts).
 */
import { PassThrough } from 'node:stream';
import Dockerode from 'dockerode';
import type { Logger } from 'pino';
import tar from 'tar-stream';
import { errorText } from '../../model/errors.js';
import type { EngineAddress } from './engine.js';
import { NotFound, Timeout, toEngineError } from './errors.js';

const CALL_TIMEOUT_MS = 30_000;
const PULL_TIMEOUT_MS = 900_000;

export type InspectInfo = Dockerode.ContainerInspectInfo;

/** What `recreate` keeps of an old container: everything a person (or the installer) set, not the image's own. */
export interface ContainerShape {
  env: string[];
  labels: Record<string, string>;
  binds: string[];
  hostConfig: Dockerode.HostConfig;
  networkMode: string;
}

/** One bind per mount, as `docker run -v` would write it (volume name or host path : destination [: ro]). */
export function bindsOf(info: InspectInfo): string[] {
  return (info.Mounts ?? []).map((m) => {
    const source = m.Type === 'volume' ? m.Name! : m.Source;
    return `${source}:${m.Destination}${m.RW ? '' : ':ro'}`;
  });
}

/**
 * The shape of `info` minus what its image brings: environment entries and labels equal to the image's own are
 * left to the new image (so AGENT_VERSION and the labels follow the new version), the rest is kept.
 */
export function shapeOf(info: InspectInfo, image: Dockerode.ImageInspectInfo | undefined): ContainerShape {
  const imageEnv = new Set(image?.Config?.Env ?? []);
  const imageLabels = image?.Config?.Labels ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(info.Config.Labels ?? {})) if (imageLabels[k] !== v) labels[k] = v;
  const h = info.HostConfig;
  const hostConfig: Dockerode.HostConfig = {
    NetworkMode: h.NetworkMode,
    PidMode: h.PidMode || undefined,
    Privileged: h.Privileged || undefined,
    CapAdd: h.CapAdd ?? undefined,
    CapDrop: h.CapDrop ?? undefined,
    Devices: h.Devices ?? undefined,
    RestartPolicy: h.RestartPolicy,
    LogConfig: h.LogConfig,
    ExtraHosts: h.ExtraHosts ?? undefined,
    SecurityOpt: h.SecurityOpt ?? undefined,
  };
  return {
    env: (info.Config.Env ?? []).filter((e) => !imageEnv.has(e)),
    labels,
    binds: bindsOf(info),
    hostConfig,
    networkMode: h.NetworkMode ?? 'default',
  };
}

export class AgentContainers {
  private readonly docker: Dockerode;

  constructor(
    address: EngineAddress,
    private readonly log: Logger,
  ) {
    this.docker =
      'socketPath' in address
        ? new Dockerode({ socketPath: address.socketPath })
        : new Dockerode({ host: address.host, port: address.port });
  }

  private async call<T>(action: string, fn: () => Promise<T>, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Timeout(
              `Docker did not answer within ${Math.round(timeoutMs / 1000)} s while trying to ${action}; check dockerd and retry.`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (err) {
      throw toEngineError(err, { action, timeoutMs });
    } finally {
      clearTimeout(timer);
    }
  }

  async inspect(name: string): Promise<InspectInfo | undefined> {
    try {
      return await this.call(`inspect container ${name}`, () => this.docker.getContainer(name).inspect());
    } catch (err) {
      if (err instanceof NotFound) return undefined;
      throw err;
    }
  }

  async inspectImage(image: string): Promise<Dockerode.ImageInspectInfo | undefined> {
    try {
      return await this.call(`inspect image ${image}`, () => this.docker.getImage(image).inspect());
    } catch (err) {
      if (err instanceof NotFound) return undefined;
      throw err;
    }
  }

  /** Always asks the registry (an upgrade wants the newest `latest`, not the copy already here). */
  async pull(image: string): Promise<void> {
    this.log.info({ step: 'image.pull', image }, 'pulling image');
    await this.call(
      `pull ${image}`,
      async () => {
        const stream = await this.docker.pull(image);
        await new Promise<void>((resolve, reject) => {
          this.docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
            const failed = output?.find((o) => o.error);
            if (err) reject(err);
            else if (failed) reject(new Error(failed.error));
            else resolve();
          });
        });
      },
      PULL_TIMEOUT_MS,
    );
    this.log.info({ step: 'image.pulled', image }, 'image pulled');
  }

  async create(name: string, image: string, shape: ContainerShape, cmd?: string[]): Promise<string> {
    const container = await this.call(`create container ${name}`, () =>
      this.docker.createContainer({
        name,
        Image: image,
        Env: shape.env,
        // Keeps the agent's HOSTNAME-based self-detection and the old agent's `docker run` defaults.
        Labels: shape.labels,
        ...(cmd ? { Cmd: cmd } : {}),
        HostConfig: { ...shape.hostConfig, Binds: shape.binds },
      }),
    );
    this.log.info({ step: 'container.created', container: name, image }, 'created container');
    return container.id;
  }

  async start(name: string): Promise<void> {
    await this.call(`start container ${name}`, () => this.docker.getContainer(name).start());
  }

  async stop(name: string, timeoutSec = 15): Promise<void> {
    await this.call(
      `stop container ${name}`,
      () =>
        this.docker
          .getContainer(name)
          .stop({ t: timeoutSec })
          .catch((err: { statusCode?: number }) => {
            if (err.statusCode !== 304) throw err; // 304: already stopped
          }),
      (timeoutSec + 15) * 1000,
    );
  }

  async remove(name: string): Promise<'removed' | 'absent'> {
    try {
      await this.call(`remove container ${name}`, () => this.docker.getContainer(name).remove({ force: true }));
      return 'removed';
    } catch (err) {
      if (err instanceof NotFound) return 'absent';
      throw err;
    }
  }

  async removeVolume(name: string): Promise<'removed' | 'absent'> {
    try {
      await this.call(`remove volume ${name}`, () => this.docker.getVolume(name).remove());
      return 'removed';
    } catch (err) {
      if (err instanceof NotFound) return 'absent';
      throw err;
    }
  }

  /** A container that removes itself when its command ends (`docker run --rm`). */
  async runDetached(name: string, image: string, cmd: string[], binds: string[]): Promise<void> {
    await this.remove(name);
    await this.call(`create container ${name}`, () =>
      this.docker.createContainer({
        name,
        Image: image,
        Cmd: cmd,
        Labels: { 'edge.autonomy.role': 'orchestrator-cleanup' },
        HostConfig: { Binds: binds, AutoRemove: true },
      }),
    );
    await this.start(name);
  }

  async rename(name: string, to: string): Promise<void> {
    await this.call(`rename container ${name} to ${to}`, () => this.docker.getContainer(name).rename({ name: to }));
    this.log.info({ step: 'container.renamed', container: name, to }, 'renamed container');
  }

  async setRestartPolicy(name: string, policy: string): Promise<void> {
    await this.call(`set the restart policy of ${name}`, () =>
      this.docker.getContainer(name).update({ RestartPolicy: { Name: policy, MaximumRetryCount: 0 } }),
    );
  }

  /**
   * Writes one file into a container's filesystem (also into a volume it mounts, also while it is stopped): how
   * the upgrader, which mounts only the Docker socket when a Python agent started it, leaves its outcome in the
   * shared volume for the agent that runs next.
   */
  async putFile(container: string, dir: string, fileName: string, content: string): Promise<void> {
    const pack = tar.pack();
    pack.entry({ name: fileName, mode: 0o644 }, content);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    await this.call(`write ${dir}/${fileName} into ${container}`, () =>
      this.docker.getContainer(container).putArchive(Buffer.concat(chunks), { path: dir }),
    );
  }

  /**
   * Resolves once a line of the container's output (stdout or stderr) matches `pattern`, or with the reason it
   * will not: the deadline passed, or the container stopped. Docker keeps the output of a container from its
   * start, so a line written before this call is still seen.
   */
  async waitForOutput(
    name: string,
    pattern: RegExp,
    timeoutMs: number,
  ): Promise<{ seen: true } | { seen: false; why: string }> {
    const container = this.docker.getContainer(name);
    const stream = (await this.call(`follow the output of ${name}`, () =>
      container.logs({ follow: true, stdout: true, stderr: true, timestamps: false }),
    )) as unknown as NodeJS.ReadableStream & { destroy(): void };
    const out = new PassThrough();
    this.docker.modem.demuxStream(stream, out, out);
    return await new Promise((resolve) => {
      let buffered = '';
      let done = false;
      const finish = (result: { seen: true } | { seen: false; why: string }) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        stream.destroy();
        resolve(result);
      };
      const timer = setTimeout(
        () => finish({ seen: false, why: `it did not connect within ${Math.round(timeoutMs / 1000)} s` }),
        timeoutMs,
      );
      out.on('data', (chunk: Buffer) => {
        buffered = (buffered + chunk.toString('utf8')).slice(-65_536);
        if (pattern.test(buffered)) finish({ seen: true });
      });
      stream.on('end', () => {
        void this.inspect(name)
          .then((info) =>
            finish({
              seen: false,
              why: `its container stopped (exit code ${info?.State.ExitCode ?? 'unknown'}) before it connected`,
            }),
          )
          .catch((err: unknown) => finish({ seen: false, why: errorText(err) }));
      });
      stream.on('error', (err: Error) => finish({ seen: false, why: errorText(err) }));
    });
  }
}

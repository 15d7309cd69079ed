import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { OrchestratorOperationStatus, UpgradeOrchestratorResult } from '../../io/cloud/topics/index.js';
import { type AgentContainers, bindsOf, shapeOf } from '../../io/docker/agentContainers.js';
import { errorText } from '../../model/errors.js';
import { isoLocal } from '../../model/time.js';
import { parseUpgradeRecord, UPGRADE_RECORD_FILE, UPGRADER_CONTAINER } from '../../model/upgrade.js';

export const NETMON_CONTAINER = 'autonomy_netmon';
const PSEUDO_DEVICE = '__orchestrator__';

type Step = 'starting' | 'pulling_images' | 'upgrading_netmon' | 'spawning_upgrader' | 'upgrader_spawned';

/**
 * `upgrade_orchestrator` (docs/protocol.md#upgrade_orchestrator): the old agent's steps and its upgrader
 * container, so the cloud sees the same progress, with what the old one lacked: the sidecar is replaced with a
 * rollback (renamed aside, the new one must run, else the old one is put back), the upgrader itself rolls the agent
 * back when the new one does not connect in time (cli/upgrader), an upgrader that dies before replacing the agent
 * is reported instead of leaving `upgrading` for ever, and the next agent reports the outcome it was handed.
 */
export class Upgrade {
  private progress: {
    status: OrchestratorOperationStatus['status'];
    step: string;
    startedAt: string;
    updatedAt: string;
    error: string | null;
    message: string | null;
  } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private watching: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      containers: AgentContainers;
      findSelf: () => Promise<{ id: string; name: string } | null>;
      agentImage: string;
      netmonImage: string;
      /** Seconds the new agent has to connect before the upgrader rolls it back. */
      connectTimeoutSec: number;
      dataDir: string;
      version: string;
      /** Whether a self-destruct runs (then no upgrade starts). */
      selfDestructRunning: () => boolean;
      log: Logger;
    },
  ) {}

  running(): boolean {
    return this.progress?.status === 'upgrading';
  }

  /** Boot: the record an upgrader left in the shared volume says how this agent came to run (read once). */
  async start(): Promise<void> {
    const file = join(this.deps.dataDir, UPGRADE_RECORD_FILE);
    const text = await readFile(file, 'utf8').catch(() => null);
    if (text === null) return;
    await unlink(file).catch(() => undefined);
    const record = parseUpgradeRecord(text);
    if (!record) {
      this.deps.log.warn({ file }, 'ignored an unreadable upgrade record');
      return;
    }
    const now = isoLocal();
    if (record.outcome === 'pending') {
      this.progress = {
        status: 'success',
        step: 'upgraded',
        startedAt: record.started_at,
        updatedAt: now,
        error: null,
        message: `Upgraded to version ${this.deps.version} (${record.to_image}); the new agent is connected.`,
      };
      this.deps.log.info(
        { step: 'upgrade.upgraded', image: record.to_image, version: this.deps.version },
        'this agent is the result of an upgrade',
      );
    } else {
      const error = record.error ?? `The upgrade to ${record.to_image} was rolled back.`;
      this.progress = {
        status: 'error',
        step: 'rolled_back',
        startedAt: record.started_at,
        updatedAt: record.finished_at ?? now,
        error,
        message: `Operation failed: ${error}`,
      };
      this.deps.log.warn(
        { step: 'upgrade.rolled_back', image: record.to_image },
        'an upgrade was rolled back to this agent',
      );
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.watching) clearInterval(this.watching);
    this.timer = undefined;
    this.watching = undefined;
  }

  begin(): UpgradeOrchestratorResult {
    if (this.running() || this.deps.selfDestructRunning())
      return { status: 'error', error: 'Upgrade or other operation already in progress' };
    const now = isoLocal();
    this.progress = {
      status: 'upgrading',
      step: 'starting',
      startedAt: now,
      updatedAt: now,
      error: null,
      message: null,
    };
    // Reply first; the work runs after the ack has gone out (the old agent also waited 0.1 s).
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, 100);
    return {
      status: 'accepted',
      message: `Upgrade initiated. Poll get_device_status with device_id='${PSEUDO_DEVICE}' for progress.`,
      poll_device_id: PSEUDO_DEVICE,
    };
  }

  status(): OrchestratorOperationStatus | undefined {
    const p = this.progress;
    if (!p) return undefined;
    return {
      status: p.status,
      device_id: PSEUDO_DEVICE,
      operation: 'upgrade',
      started_at: p.startedAt,
      updated_at: p.updatedAt,
      step: p.step,
      ...(p.error ? { error: p.error } : {}),
      ...(p.message ? { message: p.message } : {}),
      ...(p.status === 'upgrading' ? {} : { orchestrator_version: this.deps.version }),
    };
  }

  private step(step: Step): void {
    if (!this.progress) return;
    this.progress = { ...this.progress, step, updatedAt: isoLocal() };
    this.deps.log.info({ step: `upgrade.${step}` }, 'upgrade step');
  }

  private fail(error: string): void {
    this.deps.log.error({ step: this.progress?.step, err: error }, 'upgrade failed');
    if (this.progress)
      this.progress = {
        ...this.progress,
        status: 'error',
        error,
        message: `Operation failed: ${error}`,
        updatedAt: isoLocal(),
      };
  }

  private async run(): Promise<void> {
    const { containers, log } = this.deps;
    try {
      this.step('pulling_images');
      for (const image of [this.deps.agentImage, this.deps.netmonImage]) {
        await containers.pull(image).catch((err: unknown) => {
          throw new Error(
            `Could not pull ${image}: ${errorText(err)}. Check the host's access to the registry and retry.`,
          );
        });
      }

      this.step('upgrading_netmon');
      await this.replaceNetmon();

      this.step('spawning_upgrader');
      const self = await this.deps.findSelf();
      if (!self) throw new Error('Could not detect orchestrator container for upgrade');
      const info = await containers.inspect(self.id);
      if (!info) throw new Error('Could not detect orchestrator container for upgrade');
      const mtls = info.Mounts.find((m) => m.Destination === '/root/.mtls');
      if (!mtls?.Source)
        throw new Error('Could not detect mTLS host path from container mounts. Cannot proceed with upgrade.');
      const shared = info.Mounts.find((m) => m.Destination === '/var/orchestrator');
      const socket = info.Mounts.find((m) => m.Destination === '/var/run/docker.sock');
      await containers.remove(UPGRADER_CONTAINER);
      await containers.create(
        UPGRADER_CONTAINER,
        this.deps.agentImage,
        {
          env: [
            'UPGRADE_MODE=true',
            `TARGET_CONTAINER=${self.name}`,
            `NEW_IMAGE=${this.deps.agentImage}`,
            `MTLS_HOST_PATH=${mtls.Source}`,
            `SHARED_VOLUME=${shared?.Name || shared?.Source || 'orchestrator-shared'}`,
            `UPGRADE_CONNECT_TIMEOUT=${this.deps.connectTimeoutSec}`,
          ],
          labels: { 'edge.autonomy.role': 'orchestrator-upgrader' },
          binds: [`${socket?.Source ?? '/var/run/docker.sock'}:/var/run/docker.sock`],
          hostConfig: {},
          networkMode: 'default',
        },
        // The very command a Python agent gives it: one path, tested both ways.
        ['python', 'src/tools/upgrade_self.py'],
      );
      await containers.start(UPGRADER_CONTAINER);
      this.step('upgrader_spawned');
      this.watchUpgrader();
    } catch (error) {
      this.fail(errorText(error));
      log.debug({ err: error }, 'upgrade failure detail');
    }
  }

  /**
   * The sidecar is swapped with a way back: the old one is stopped and renamed aside, the new one must be running
   * a few seconds after its start, else it is removed and the old one renamed back and started.
   */
  private async replaceNetmon(): Promise<void> {
    const { containers, log } = this.deps;
    const old = await containers.inspect(NETMON_CONTAINER);
    if (!old) {
      log.warn({ container: NETMON_CONTAINER }, 'no sidecar container on this host; nothing to upgrade there');
      return;
    }
    const previous = `${NETMON_CONTAINER}_previous`;
    const shape = shapeOf(old, await containers.inspectImage(old.Image));
    if (shape.binds.length === 0) shape.binds = bindsOf(old);
    await containers.remove(previous);
    await containers.stop(NETMON_CONTAINER, 10);
    await containers.rename(NETMON_CONTAINER, previous);
    try {
      await containers.create(NETMON_CONTAINER, this.deps.netmonImage, shape);
      await containers.start(NETMON_CONTAINER);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const now = await containers.inspect(NETMON_CONTAINER);
      if (!now?.State.Running)
        throw new Error(`it exited with code ${now?.State.ExitCode ?? 'unknown'} right after its start`);
      await containers.remove(previous);
    } catch (err) {
      await containers.remove(NETMON_CONTAINER).catch(() => undefined);
      await containers.rename(previous, NETMON_CONTAINER);
      await containers.start(NETMON_CONTAINER);
      throw new Error(
        `The new sidecar (${this.deps.netmonImage}) did not start: ${errorText(err)}. The previous sidecar runs again and the agent was not upgraded.`,
      );
    }
  }

  /** The upgrader stops this agent when it works; while this agent still runs, an upgrader that ended has failed. */
  private watchUpgrader(): void {
    this.watching = setInterval(() => {
      void this.deps.containers
        .inspect(UPGRADER_CONTAINER)
        .then((info) => {
          if (!this.running() || info?.State.Running) return;
          clearInterval(this.watching);
          this.watching = undefined;
          this.fail(
            info
              ? `The upgrader exited with code ${info.State.ExitCode} before it replaced the agent; this agent keeps running. See docker logs ${UPGRADER_CONTAINER}.`
              : 'The upgrader container disappeared before it replaced the agent; this agent keeps running.',
          );
        })
        .catch(() => undefined);
    }, 2_000);
    this.watching.unref();
  }
}

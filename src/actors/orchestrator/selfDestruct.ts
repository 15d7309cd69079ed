import type { Logger } from 'pino';
import { isoLocal } from '../../model/time.js';
import type { Supervisor } from '../vplc/supervisor.js';
import type { DeleteOrchestratorResult, OrchestratorOperationStatus } from '../../io/cloud/topics/index.js';
import type { NetworkFacts } from '../../io/docker/convert.js';
import type { NetworkOwnership } from '../../io/docker/engine.js';
import { isOurNetwork } from '../../io/docker/ownership.js';
import { errorText } from '../../model/errors.js';

/** What self-destruct needs from the engine (a subset of DockerEngine). */
export interface SelfDestructEngine {
  networksByDriver(driver: string): Promise<NetworkFacts[]>;
  removeNetworkIfUnused(name: string, ownership: NetworkOwnership): Promise<string>;
  stopContainer(name: string): Promise<string>;
  removeContainer(name: string): Promise<string>;
  removeVolume(name: string): Promise<'removed' | 'absent'>;
  findSelf(): Promise<{ id: string; name: string } | null>;
}

export const NETMON_CONTAINER = 'autonomy_netmon';
export const SHARED_VOLUME = 'orchestrator-shared';

type Step =
  | 'starting'
  | 'returning_dedicated_nics'
  | 'deleting_runtimes'
  | 'cleaning_networks'
  | 'cleaning_proxy_arp'
  | 'clearing_records'
  | 'deleting_netmon'
  | 'deleting_volume'
  | 'removing_self'
  | 'done';

/** How long the agent waits, once done, for the cloud to poll and see it; then it removes itself anyway. */
export const FINAL_POLL_WAIT_MS = 30_000;

/**
 * `delete_orchestrator`, the cloud's uninstall: removes every vPLC through its own lifecycle (so each is
 * stopped and cleaned like a normal delete), our networks, the sidecar, the shared volume and finally
 * the agent's own container. Progress is polled as the pseudo device `__orchestrator__`.
 */
export class SelfDestruct {
  readonly pseudoDeviceId = '__orchestrator__';
  private stopped = false;
  private progress: {
    status: 'deleting' | 'deleted' | 'error';
    step: Step;
    startedAt: Date;
    updatedAt: Date;
    error: string | null;
  } | null = null;

  constructor(
    private readonly deps: {
      supervisor: Supervisor;
      engine: SelfDestructEngine;
      /** Forget every record on disk (files, journal) once the runtimes are gone. */
      clearRecords: () => Promise<void>;
      /**
       * Networks the old agent made, which carry no labels: proven by its files and their exact shape
       * (OldAgentFootprint), never by a name that merely looks like one of them.
       */
      isOldAgentNetwork?: (net: NetworkFacts) => boolean;
      /**
       * Step `returning_dedicated_nics`: give every dedicated NIC back to the host (DedicatedNics.returnAllToHost,
       * docs/protocol.md#dedicated-nics), before the runtimes go, as the old agent does; never fails the self-destruct.
       */
      returnDedicatedNics?: () => Promise<{ returned: string[]; failed: string[] }>;
      /** Step `cleaning_proxy_arp`: the sidecar's `cleanup_all_proxy_arp` (docs/protocol.md#wifi-vnics), with the bridges removed. */
      cleanupAllProxyArp?: () => Promise<number>;
      /**
       * Starts what removes the shared volume once the agent's container is gone (the agent cannot: it mounts it).
       * Given the agent's own container id; absent where the agent does not run in a container.
       */
      removeVolumeAfterExit?: (self: { id: string; name: string }) => Promise<void>;
      /** An upgrade runs: no self-destruct starts. */
      upgradeRunning?: () => boolean;
      finalPollWaitMs?: number;
      log: Logger;
      now?: () => Date;
    },
  ) {}

  /** A poll delivered the final step (see `status`). */
  private finalSeen: (() => void) | null = null;

  running(): boolean {
    return this.progress?.status === 'deleting' || this.progress?.status === 'deleted';
  }

  begin(): DeleteOrchestratorResult {
    if (this.running() || this.deps.upgradeRunning?.())
      return { status: 'error', error: 'Self-destruct operation already in progress' };
    const now = this.now();
    this.progress = { status: 'deleting', step: 'starting', startedAt: now, updatedAt: now, error: null };
    // From the ack on, no create can slip in behind the list of vPLCs to delete; the steps run as the
    // supervisor's selfDestructing state (docs/protocol.md#delete_orchestrator).
    this.deps.supervisor.beginSelfDestruct((signal) => this.run(signal));
    return {
      status: 'accepted',
      message: `Self-destruct initiated. Poll get_device_status with device_id='${this.pseudoDeviceId}' for progress.`,
      poll_device_id: this.pseudoDeviceId,
    };
  }

  /** Agent shutdown: a self-destruct accepted but not yet begun does not begin. */
  stop(): void {
    this.stopped = true;
  }

  /** get_device_status for `__orchestrator__` while (or after) a self-destruct runs; undefined if none ran. */
  status(): OrchestratorOperationStatus | undefined {
    const p = this.progress;
    if (!p) return undefined;
    if (p.status === 'deleted') queueMicrotask(() => this.finalSeen?.());
    return {
      status: p.status,
      device_id: this.pseudoDeviceId,
      operation: 'delete',
      started_at: isoLocal(p.startedAt),
      updated_at: isoLocal(p.updatedAt),
      step: p.step,
      ...(p.error ? { error: p.error } : {}),
      message: p.error
        ? `Operation failed: ${p.error}`
        : p.status === 'deleted'
          ? 'Self-destruct complete: every vPLC, network and the sidecar are removed; the agent removes itself now.'
          : `Container ${this.pseudoDeviceId} is being deleted`,
    };
  }

  /** The steps, in order; a failure is recorded for the cloud and fails the supervisor's `working` state. */
  private async run(signal: AbortSignal): Promise<void> {
    const { supervisor, engine, log, returnDedicatedNics, cleanupAllProxyArp } = this.deps;
    // Reply first; the work runs after the ack has gone out (the old agent also waited 0.1 s).
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (signal.aborted || this.stopped) {
      log.warn('self-destruct not begun: the agent is shutting down');
      return;
    }
    try {
      this.step('returning_dedicated_nics');
      await this.bestEffort(
        'returning_dedicated_nics',
        returnDedicatedNics &&
          (async () => {
            const nics = await returnDedicatedNics();
            log.info({ returned: nics.returned, failed: nics.failed }, 'dedicated NICs returned to the host');
          }),
      );

      this.step('deleting_runtimes');
      // Every supervised runtime by its name, whatever the name looks like (the old agent's UUIDs or any other).
      for (const vplc of supervisor.list()) {
        log.info({ step: 'self_destruct.runtime', vplc: vplc.name }, 'deleting runtime');
        const admission = supervisor.command(vplc.name, 'DELETE');
        if (!admission.accepted) {
          // Already deleting: wait for that delete instead of starting another.
          if (supervisor.status(vplc.name)?.phase !== 'deleting') throw new Error(admission.reason);
          await this.until(() => supervisor.status(vplc.name) === undefined);
          continue;
        }
        const outcome = await admission.done;
        if (!outcome.success) throw new Error(`could not delete ${vplc.name}: ${outcome.error}`);
      }

      this.step('cleaning_networks');
      const isOldAgentNetwork = this.deps.isOldAgentNetwork ?? (() => false);
      const ours = (net: NetworkFacts) => isOurNetwork(net) || isOldAgentNetwork(net);
      for (const driver of ['bridge', 'macvlan']) {
        for (const net of await engine.networksByDriver(driver)) {
          if (!ours(net) || Object.keys(net.containers).length > 0) continue;
          const outcome = await engine.removeNetworkIfUnused(net.name, { ours }).catch((error: unknown) => {
            log.warn({ err: error, network: net.name }, 'could not remove network during self-destruct');
            return 'failed';
          });
          log.info({ step: 'self_destruct.network', network: net.name, outcome }, 'network');
        }
      }

      this.step('cleaning_proxy_arp');
      // The runtimes are gone, and their bridge ends went with them: a failure here is logged, never fatal.
      await this.bestEffort(
        'cleaning_proxy_arp',
        cleanupAllProxyArp &&
          (async () => {
            log.info({ removed: await cleanupAllProxyArp() }, 'Proxy-ARP bridges removed');
          }),
      );

      this.step('clearing_records');
      await this.deps.clearRecords();

      this.step('deleting_netmon');
      await engine.stopContainer(NETMON_CONTAINER);
      await engine.removeContainer(NETMON_CONTAINER);

      this.step('deleting_volume');
      // Fails while this agent still mounts the volume (the old agent's only attempt); then it is removed right
      // after the agent's container is gone (removing_self).
      const volume = await engine.removeVolume(SHARED_VOLUME).catch((error: unknown) => {
        log.info({ err: errorText(error) }, `volume ${SHARED_VOLUME} is still mounted by the agent; removed after it`);
        return 'in_use' as const;
      });

      this.step('removing_self');
      const self = await engine.findSelf();
      if (!self) throw new Error('Could not detect orchestrator-agent container for self-destruct');
      if (volume === 'in_use') await this.deps.removeVolumeAfterExit?.(self);

      // The last word the cloud hears: the old agent vanished at removing_self and never said it was done.
      this.finish();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.deps.finalPollWaitMs ?? FINAL_POLL_WAIT_MS);
        this.finalSeen = () => {
          clearTimeout(timer);
          // Let the reply that carried it leave the socket before the container goes.
          setTimeout(resolve, 500);
        };
      });
      log.warn(
        { step: 'self_destruct.removing_self', container: self.name },
        'self-destruct: removing the agent container',
      );
      await engine.removeContainer(self.name);
    } catch (error) {
      const message = errorText(error);
      log.error({ err: error, step: this.progress?.step }, 'self-destruct failed');
      if (this.progress) this.progress = { ...this.progress, status: 'error', error: message, updatedAt: this.now() };
      throw error;
    }
  }

  private finish(): void {
    if (!this.progress) return;
    this.progress = { ...this.progress, status: 'deleted', step: 'done', updatedAt: this.now() };
    this.deps.log.info({ step: 'done' }, 'self-destruct step');
  }

  /** A step whose failure is logged and never fails the self-destruct (as in the old agent). */
  private async bestEffort(step: Step, work: (() => Promise<void>) | undefined): Promise<void> {
    if (!work) {
      this.deps.log.debug({ step }, 'nothing to do in this step');
      return;
    }
    await work().catch((error: unknown) =>
      this.deps.log.warn({ step, err: errorText(error) }, 'step failed; going on'),
    );
  }

  private step(step: Step): void {
    if (!this.progress) return;
    this.progress = { ...this.progress, step, updatedAt: this.now() };
    this.deps.log.info({ step }, 'self-destruct step');
  }

  private async until(done: () => boolean, timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`a runtime deletion did not finish within ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}

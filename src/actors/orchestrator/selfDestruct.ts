import type { Logger } from 'pino';
import { isoLocal } from '../../model/time.js';
import type { Supervisor } from '../vplc/supervisor.js';
import type { DeleteOrchestratorResult, DeviceOperationStatus } from '../../io/cloud/topics/index.js';
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
  | 'removing_self';

/**
 * `delete_orchestrator`, the cloud's uninstall: removes every vPLC through its own lifecycle (so each is
 * stopped and cleaned like a normal delete), our networks, the sidecar, the shared volume and finally
 * the agent's own container. Progress is polled as the pseudo device `__orchestrator__`.
 */
export class SelfDestruct {
  readonly pseudoDeviceId = '__orchestrator__';
  private timer: NodeJS.Timeout | undefined;
  private progress: {
    status: 'deleting' | 'error';
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
       * "Return every dedicated NIC to the host" (DedicatedNics.returnAllToHost, docs/protocol.md#dedicated-nics): run
       * before the runtimes go, as the old agent's `returning_dedicated_nics`; never fails the self-destruct.
       */
      returnDedicatedNics?: () => Promise<{ returned: string[]; failed: string[] }>;
      /** The sidecar's `cleanup_all_proxy_arp` (docs/protocol.md#wifi-vnics): resolves with the bridges removed. */
      cleanupAllProxyArp?: () => Promise<number>;
      log: Logger;
      now?: () => Date;
    },
  ) {}

  begin(): DeleteOrchestratorResult {
    if (this.progress?.status === 'deleting')
      return { status: 'error', error: 'Self-destruct operation already in progress' };
    // From the ack on, no create can slip in behind the list of vPLCs to delete.
    this.deps.supervisor.beginSelfDestruct();
    const now = this.now();
    this.progress = { status: 'deleting', step: 'starting', startedAt: now, updatedAt: now, error: null };
    // Reply first; the work runs after the ack has gone out (the old agent also waited 0.1 s).
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, 100);
    return {
      status: 'accepted',
      message: `Self-destruct initiated. Poll get_device_status with device_id='${this.pseudoDeviceId}' for progress.`,
      poll_device_id: this.pseudoDeviceId,
    };
  }

  /** Agent shutdown: a self-destruct accepted but not yet begun does not begin. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** get_device_status for `__orchestrator__` while (or after) a self-destruct runs; undefined if none ran. */
  status(): DeviceOperationStatus | undefined {
    const p = this.progress;
    if (!p) return undefined;
    return {
      status: p.status,
      device_id: this.pseudoDeviceId,
      operation: 'delete',
      started_at: isoLocal(p.startedAt),
      updated_at: isoLocal(p.updatedAt),
      step: p.step,
      ...(p.error ? { error: p.error } : {}),
      message: p.error ? `Operation failed: ${p.error}` : `Container ${this.pseudoDeviceId} is being deleted`,
    };
  }

  private async run(): Promise<void> {
    const { supervisor, engine, log } = this.deps;
    try {
      if (this.deps.returnDedicatedNics) {
        this.step('returning_dedicated_nics');
        const nics = await this.deps.returnDedicatedNics();
        log.info({ returned: nics.returned, failed: nics.failed }, 'dedicated NICs returned to the host');
      }

      this.step('deleting_runtimes');
      for (const vplc of supervisor.list()) {
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
          await engine.removeNetworkIfUnused(net.name, { ours }).catch((error: unknown) => {
            log.warn({ err: error, network: net.name }, 'could not remove network during self-destruct');
          });
        }
      }

      if (this.deps.cleanupAllProxyArp) {
        this.step('cleaning_proxy_arp');
        // Only logged, as in the old agent: the runtimes are gone, and their bridge ends went with them.
        await this.deps.cleanupAllProxyArp().then(
          (removed) => log.info({ removed }, 'Proxy-ARP bridges removed'),
          (error: unknown) => log.warn({ err: errorText(error) }, 'could not remove the Proxy-ARP bridges'),
        );
      }

      this.step('clearing_records');
      await this.deps.clearRecords();

      this.step('deleting_netmon');
      await engine.stopContainer(NETMON_CONTAINER);
      await engine.removeContainer(NETMON_CONTAINER);

      this.step('deleting_volume');
      // Expected to fail while this agent still mounts the volume; the records in it were cleared above.
      await engine.removeVolume(SHARED_VOLUME).catch((error: unknown) => {
        log.warn({ err: error }, `could not remove volume ${SHARED_VOLUME} (still mounted by the agent)`);
      });

      this.step('removing_self');
      const self = await engine.findSelf();
      if (!self) throw new Error('Could not detect orchestrator-agent container for self-destruct');
      log.warn({ container: self.name }, 'self-destruct: removing the agent container');
      await engine.removeContainer(self.name);
    } catch (error) {
      const message = errorText(error);
      log.error({ err: error, step: this.progress?.step }, 'self-destruct failed');
      if (this.progress) this.progress = { ...this.progress, status: 'error', error: message, updatedAt: this.now() };
    }
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

import type { Logger } from 'pino';
import type { NetworkOwnership, RemoveNetworkOutcome } from '../../io/docker/engine.js';
import { isOldAgentMacvlanNetwork } from '../../io/docker/ownership.js';
import { macvlanParentOf } from '../../model/names.js';
import type { VplcStatus } from '../vplc/supervisor.js';

/**
 * Runtimes adopted without our labels (made by the old agent). Only these and labelled containers are ever
 * stopped or removed (a mistyped id must never delete a foreign container); when one is deleted, the old agent's
 * MACVLAN networks it used are removed once unused.
 */
export class AdoptedRuntimes {
  private readonly networks = new Map<string, Set<string>>();
  private readonly containers = new Map<string, string | null>();

  has(name: string): boolean {
    return this.networks.has(name);
  }

  /**
   * `containerId`: the old agent's container that was proven to be this runtime, or null when only the files know
   * the runtime (its container is gone). Only that container may be stopped or removed under this name: another
   * container that takes the name later is not the old agent's.
   */
  add(name: string, legacyNetworks: Iterable<string>, containerId: string | null = null): void {
    this.networks.set(name, new Set(legacyNetworks));
    this.containers.set(name, containerId);
  }

  /** Whether `containerId` is the old agent's container adopted under `name`. */
  ownsContainer(name: string, containerId: string): boolean {
    const adopted = this.containers.get(name);
    return adopted !== undefined && adopted !== null && adopted === containerId;
  }

  names(): string[] {
    return [...this.networks.keys()];
  }

  /**
   * After an adopted runtime was deleted: stop watching it and remove the unlabelled MACVLAN networks it used that
   * no container uses any more (the old agent never removed them; they would be orphans now).
   */
  async release(
    name: string,
    deps: {
      engine: {
        removeNetworkIfUnused(name: string, ownership: NetworkOwnership): Promise<RemoveNetworkOutcome>;
      };
      watch: { untrack(name: string): void };
      stillNeeded: (network: string) => boolean;
      log: Logger;
    },
  ): Promise<void> {
    const networks = this.networks.get(name);
    if (!networks) return;
    this.networks.delete(name);
    this.containers.delete(name);
    deps.watch.untrack(name);
    for (const network of networks) {
      if (deps.stillNeeded(network)) continue;
      try {
        // Only the old agent's MACVLAN network of that name, exactly as it made them, never another that took the name.
        const outcome = await deps.engine.removeNetworkIfUnused(network, { ours: isOldAgentMacvlanNetwork });
        deps.log.info({ step: 'legacy.network_cleanup', vplc: name, network, outcome }, 'old agent network cleanup');
      } catch (err) {
        deps.log.warn({ step: 'legacy.network_cleanup_failed', vplc: name, network, err }, 'could not remove network');
      }
    }
  }
}

/** Whether a network name is still needed by a supervised runtime (for `AdoptedRuntimes.release`). */
export function networkInUseBy(statuses: VplcStatus[], network: string): boolean {
  const parent = macvlanParentOf(network);
  if (parent === null) return false;
  return statuses.some((s) => s.phase !== 'deleted' && s.spec.vnics.some((v) => v.parent_interface === parent));
}

import type { Logger } from 'pino';
import type { RemoveNetworkOutcome } from '../../io/docker/engine.js';
import { macvlanParentOf } from '../../model/names.js';
import type { VplcStatus } from '../vplc/supervisor.js';

/**
 * Runtimes adopted without our labels (made by the old agent). Only these and labelled containers are ever
 * stopped or removed (a mistyped id must never delete a foreign container); when one is deleted, the old agent's
 * MACVLAN networks it used are removed once unused.
 */
export class AdoptedRuntimes {
  private readonly networks = new Map<string, Set<string>>();

  has(name: string): boolean {
    return this.networks.has(name);
  }

  add(name: string, legacyNetworks: Iterable<string>): void {
    this.networks.set(name, new Set(legacyNetworks));
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
        removeNetworkIfUnused(name: string, opts: { requireOwned: boolean }): Promise<RemoveNetworkOutcome>;
      };
      watch: { untrack(name: string): void };
      stillNeeded: (network: string) => boolean;
      log: Logger;
    },
  ): Promise<void> {
    const networks = this.networks.get(name);
    if (!networks) return;
    this.networks.delete(name);
    deps.watch.untrack(name);
    for (const network of networks) {
      if (deps.stillNeeded(network)) continue;
      try {
        const outcome = await deps.engine.removeNetworkIfUnused(network, { requireOwned: false });
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

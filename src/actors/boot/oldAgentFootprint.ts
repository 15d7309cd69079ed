import type { ContainerFacts, NetworkFacts } from '../../io/docker/convert.js';
import { isOldAgentInternalNetwork, isOldAgentMacvlanNetwork, isOldAgentRuntime } from '../../io/docker/ownership.js';
import type { LoadedState } from '../../io/store/stateStore.js';
import { macvlanParentOf, runtimeOfInternalNetwork } from '../../model/names.js';

/**
 * What the old agent left on this host, as far as it can be proven: the old agent labelled nothing, so its objects
 * are known only by the names its files (clients.json, runtime_vnics.json, serial_configs.json, as read at start)
 * record together with the exact shape it gave them (ownership.ts). A name that merely looks like the old agent's —
 * an unlabelled `X_internal` bridge, a network called `macvlan_…` — is someone else's until both agree.
 */
export class OldAgentFootprint {
  private readonly runtimes: ReadonlySet<string>;
  /** Per runtime, the MACVLAN networks runtime_vnics.json names for it (`docker_network_name`). */
  private readonly recorded = new Map<string, Set<string>>();
  /** MACVLAN networks the files name, and those found attached to an adopted old-agent runtime. */
  private readonly macvlans = new Set<string>();

  constructor(runtimes: Iterable<string>, recordedNetworks: Iterable<[string, string]> = []) {
    this.runtimes = new Set(runtimes);
    for (const [runtime, network] of recordedNetworks) {
      if (macvlanParentOf(network) === null) continue;
      let set = this.recorded.get(runtime);
      if (!set) {
        set = new Set();
        this.recorded.set(runtime, set);
      }
      set.add(network);
      this.macvlans.add(network);
    }
  }

  static fromFiles(loaded: Pick<LoadedState, 'clients' | 'runtimeVnics' | 'serialConfigs'>): OldAgentFootprint {
    const names = [...loaded.clients.keys(), ...loaded.runtimeVnics.keys(), ...loaded.serialConfigs.keys()];
    const networks: Array<[string, string]> = [];
    for (const [name, vnics] of loaded.runtimeVnics) {
      for (const vnic of vnics) {
        if (typeof vnic.docker_network_name === 'string') networks.push([name, vnic.docker_network_name]);
      }
    }
    return new OldAgentFootprint(names, networks);
  }

  /** Whether the old agent's files name this runtime. */
  recordsRuntime(name: string): boolean {
    return this.runtimes.has(name);
  }

  /** An unlabelled container that is the old agent's runtime of that name: the files name it, and its shape fits. */
  isOldAgentRuntime(facts: ContainerFacts): boolean {
    return this.recordsRuntime(facts.name) && isOldAgentRuntime(facts, this.recorded.get(facts.name) ?? new Set());
  }

  /** MACVLAN networks an adopted old-agent runtime was found attached to at start: the old agent made those too. */
  noteNetworks(networks: Iterable<string>): void {
    for (const network of networks) if (macvlanParentOf(network) !== null) this.macvlans.add(network);
  }

  /** A network the old agent made, as the files and its shape prove. */
  ownsNetwork(net: NetworkFacts): boolean {
    const runtime = runtimeOfInternalNetwork(net.name);
    if (runtime !== null && this.runtimes.has(runtime) && isOldAgentInternalNetwork(net, runtime)) return true;
    return this.macvlans.has(net.name) && isOldAgentMacvlanNetwork(net);
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { InterfaceInfo } from '../../../sidecar/src/protocol.js';
import type { VplcSpec } from '../../model/vplc.js';

/**
 * Which host interfaces a vNIC may sit on (docs/decisions.md#a-vnic-sits-on-a-physical-port-or-one-the-engineer-allowed).
 * A MACVLAN network puts the PLC on whatever segment its parent reaches: `docker0` or a `br-*` bridge (other
 * containers), another container's `veth`, `wg0` or `tun0` (a VPN), `eth0.100` (a VLAN). A plant engineer expects a
 * PLC on one of the host's network ports, so only these are taken:
 *
 * - with `--parent-interfaces`, exactly the interfaces it lists (the engineer's word, for a VLAN or a bond too);
 * - otherwise the host's hardware ports as the network monitor sidecar reports them (`physical`);
 * - with neither, nothing: the agent runs in its own network namespace and cannot see the host's interfaces itself,
 *   so it refuses, saying how to set the allow-list.
 */
export interface ParentInterfaceDeps {
  /** `--parent-interfaces`; null when not set. */
  allowList: readonly string[] | null;
  sidecar: { online(): boolean; interfaceList(): InterfaceInfo[] };
  /** How long a create waits for the sidecar to connect (default 3 s, as for subnet detection). */
  waitMs?: number;
  pollMs?: number;
}

export class ParentInterfaces {
  constructor(private readonly deps: ParentInterfaceDeps) {}

  /** Rejects with a sentence for the first vNIC whose parent may not be used. */
  async check(spec: VplcSpec): Promise<void> {
    const { allowList } = this.deps;
    for (const [index, vnic] of spec.vnics.entries()) {
      const parent = vnic.parent_interface;
      const field = `vnic_configs[${index}].parent_interface '${parent}'`;
      if (allowList !== null) {
        if (allowList.includes(parent)) continue;
        throw new Error(
          `${field} is not one of the interfaces this agent may put vPLCs on: --parent-interfaces allows ${allowList.join(', ')}; add ${parent} there (or to ORCH_PARENT_INTERFACES) to use it`,
        );
      }
      const interfaces = await this.reported();
      if (interfaces === null) {
        throw new Error(
          `${field} cannot be checked: the network monitor sidecar (autonomy_netmon) is not connected, and without it the agent cannot tell a network port of the host from a bridge, VLAN or VPN; start the sidecar, or start the agent with --parent-interfaces naming the ports vPLCs may use (e.g. --parent-interfaces ${parent})`,
        );
      }
      const found = interfaces.find((i) => i.interface === parent);
      if (found?.physical === true) continue;
      const ports = interfaces.filter((i) => i.physical === true).map((i) => i.interface);
      const why =
        found === undefined
          ? 'the network monitor does not report it (it does not exist, or it is loopback, Docker bridge or container link)'
          : found.physical === undefined
            ? 'the network monitor is an older one that does not say which interfaces are hardware ports'
            : 'it has no hardware device behind it (a bridge, VLAN, bond, tunnel or VPN)';
      const allowed = ports.length > 0 ? `allowed are ${ports.join(', ')}` : 'no hardware port is reported';
      throw new Error(
        `${field} is not a network port of this host (${why}); ${allowed}; to use another interface, such as a VLAN or a bond, start the agent with --parent-interfaces naming it`,
      );
    }
  }

  /**
   * The sidecar's interfaces, waiting a moment for it to connect and send its discovery (the list is empty until
   * then); null when it does not connect.
   */
  private async reported(): Promise<InterfaceInfo[] | null> {
    const { sidecar } = this.deps;
    const deadline = Date.now() + (this.deps.waitMs ?? 3000);
    for (;;) {
      const online = sidecar.online();
      if (online && sidecar.interfaceList().length > 0) return sidecar.interfaceList();
      if (Date.now() >= deadline) return online ? sidecar.interfaceList() : null;
      await sleep(this.deps.pollMs ?? 500);
    }
  }
}

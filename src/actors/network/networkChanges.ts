import type { InterfaceInfo } from '../../../sidecar/src/protocol.js';
import type { VplcFact } from '../../model/facts.js';
import type { VplcSpec } from '../../model/vplc.js';

/**
 * A host interface changed: which vPLCs must hear `network.changed`. Only an interface that is up with an IPv4
 * subnet has a network to move to; a link that went down keeps its vPLCs where they are, and they move when it
 * comes back (docs/protocol.md#subnet-changes).
 */
export function networkChangeFacts(
  iface: InterfaceInfo,
  vplcs: ReadonlyArray<{ name: string; spec: VplcSpec }>,
): Array<[string, VplcFact]> {
  if (iface.status !== 'up' || iface.ipv4_addresses.length === 0) return [];
  return vplcs
    .filter((vplc) => vplc.spec.vnics.some((v) => v.parent_interface === iface.interface))
    .map((vplc) => [vplc.name, { type: 'network.changed', parentInterface: iface.interface }]);
}

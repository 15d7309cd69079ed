/**
 * The MACVLAN network a vNIC sits on, found among a container's networks. Network names are
 * `macvlan_<parent>_<a.b.c.d>_<prefix>` (spec §8.3); the parent is compared whole, so `eth1` never
 * matches `eth10`'s network (D16).
 */
export function vnicNetwork<T>(networks: Record<string, T>, parentInterface: string): [string, T] | undefined {
  for (const [name, endpoint] of Object.entries(networks)) {
    if (macvlanParentOf(name) === parentInterface) return [name, endpoint];
  }
  return undefined;
}

export function macvlanParentOf(network: string): string | null {
  const m = /^macvlan_(.+)_(\d+\.\d+\.\d+\.\d+)_(\d+)$/.exec(network);
  return m ? m[1]! : null;
}

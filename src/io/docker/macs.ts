import { randomBytes } from 'node:crypto';

export function normalizeMac(mac: string): string {
  return mac.trim().toLowerCase();
}

/**
 * A locally administered unicast MAC: first octet `0x02 | (random(0..63) << 2)`, i.e. 02, 06, 0a … fe,
 * then five random octets. Unlike the old agent, we retry on a collision with `inUse`.
 */
export function generateMac(
  inUse: ReadonlySet<string> = new Set(),
  random: (n: number) => Buffer = randomBytes,
): string {
  for (;;) {
    const bytes = random(6);
    const octets = [0x02 | (((bytes[0] ?? 0) & 0x3f) << 2), ...bytes.subarray(1, 6)];
    const mac = octets.map((b) => b.toString(16).padStart(2, '0')).join(':');
    if (!inUse.has(mac)) return mac;
  }
}

/** The parts of a network (as `NetworkFacts` holds it after an inspect) MAC collection needs. */
export interface MacvlanNetworkMembers {
  driver: string;
  parent: string | null;
  containers: Record<string, { name: string; mac: string | null }>;
}

/**
 * MACs (lower-case → container name) of every container attached to any MACVLAN network whose `parent` option equals
 * `parent` (the create's MAC check), except those of `excludeContainer` (so repeating a create for the same runtime is
 * harmless).
 */
export function macsInUseOnParent(
  networks: readonly MacvlanNetworkMembers[],
  parent: string,
  excludeContainer?: string,
): Map<string, string> {
  const used = new Map<string, string>();
  for (const net of networks) {
    if (net.driver !== 'macvlan' || net.parent !== parent) continue;
    for (const member of Object.values(net.containers)) {
      if (!member.mac || member.name === excludeContainer) continue;
      used.set(normalizeMac(member.mac), member.name);
    }
  }
  return used;
}

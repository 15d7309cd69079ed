import { randomBytes } from 'node:crypto';

/** Six hex pairs separated by `:`. */
const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function normalizeMac(mac: string): string {
  return mac.trim().toLowerCase();
}

/** A sentence saying what is wrong with a requested MAC, or `null` when a MACVLAN endpoint can use it. */
export function macProblem(mac: string): string | null {
  const m = normalizeMac(mac);
  if (!MAC_PATTERN.test(m)) {
    return `MAC address "${mac}" is not valid: write six hex pairs separated by ":", e.g. 02:42:ac:11:00:02.`;
  }
  const first = Number.parseInt(m.slice(0, 2), 16);
  if ((first & 0x01) === 0x01) {
    return `MAC address "${mac}" is a multicast address and cannot be given to a network interface; use a unicast MAC (even first octet, e.g. 02:…).`;
  }
  if (m === '00:00:00:00:00:00') return `MAC address "${mac}" is all zeros; use a real unicast MAC.`;
  return null;
}

/**
 * A locally administered unicast MAC (spec §8.5): first octet `0x02 | (random(0..63) << 2)`, i.e. 02, 06, 0a … fe,
 * then five random octets. Unlike the reference, we retry on a collision with `inUse`.
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
 * MACs (lower-case → container name) of every container attached to any MACVLAN network whose `parent` option
 * equals `parent` (spec §4.1 step 5), except those of `excludeContainer` (so repeating a create for the same runtime
 * is harmless).
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

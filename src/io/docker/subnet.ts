import { setTimeout as sleep } from 'node:timers/promises';

/** What the agent knows about a host interface (fed by the netmon sidecar's interface cache). */
export interface InterfaceLookup {
  get(iface: string): { subnet: string; gateway: string | null } | undefined;
}

export interface ResolvedSubnet {
  /** CIDR, e.g. `192.168.1.0/24`. */
  subnet: string;
  gateway: string | null;
}

/** The vNIC fields subnet resolution reads. */
export interface SubnetRequest {
  parent_interface: string;
  subnet?: string | null;
  gateway?: string | null;
}

export const SUBNET_WAIT_MS = 3000;
export const SUBNET_POLL_MS = 500;

export class SubnetError extends Error {
  override name = 'SubnetError';
}

function parseIpv4(text: string): number[] | null {
  const parts = text.trim().split('.');
  if (parts.length !== 4) return null;
  const octets = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : Number.NaN));
  return octets.every((o) => o >= 0 && o <= 255) ? octets : null;
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== null;
}

/** A dotted netmask's prefix length, or `null` when the 1-bits are not contiguous. */
function netmaskPrefix(octets: number[]): number | null {
  const bits = octets.map((o) => o.toString(2).padStart(8, '0')).join('');
  return /^1*0*$/.test(bits) ? (bits.indexOf('0') === -1 ? 32 : bits.indexOf('0')) : null;
}

/**
 * Explicit subnet of a vNIC (docs/protocol.md#macvlan-networks), used only when both `subnet` and `gateway` are
 * non-empty: a CIDR is used verbatim (so network names match the old agent's), a dotted netmask is ANDed with the
 * gateway.
 * Returns `undefined` when the vNIC asks for auto-detection. Throws `SubnetError` on malformed values.
 */
export function explicitSubnet(vnic: SubnetRequest, vnicName: string): ResolvedSubnet | undefined {
  const subnet = vnic.subnet?.trim() ?? '';
  const gateway = vnic.gateway?.trim() ?? '';
  if (subnet === '' || gateway === '') return undefined;
  const gw = parseIpv4(gateway);
  if (gw === null) {
    throw new SubnetError(`vNIC '${vnicName}': gateway "${gateway}" is not an IPv4 address.`);
  }
  if (subnet.includes('/')) {
    const [base = '', prefixText = ''] = subnet.split('/');
    const prefix = /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
    if (parseIpv4(base) === null || !(prefix >= 0 && prefix <= 32)) {
      throw new SubnetError(
        `vNIC '${vnicName}': subnet "${subnet}" is neither a CIDR (e.g. 192.168.1.0/24) nor a dotted netmask (e.g. 255.255.255.0).`,
      );
    }
    return { subnet, gateway };
  }
  const mask = parseIpv4(subnet);
  const prefix = mask === null ? null : netmaskPrefix(mask);
  if (mask === null || prefix === null) {
    throw new SubnetError(
      `vNIC '${vnicName}': subnet "${subnet}" is neither a CIDR (e.g. 192.168.1.0/24) nor a dotted netmask (e.g. 255.255.255.0).`,
    );
  }
  const base = gw.map((o, i) => o & (mask[i] ?? 0)).join('.');
  return { subnet: `${base}/${prefix}`, gateway };
}

/** The old agent's sentence when auto-detection finds nothing. */
export function undetectedSubnetMessage(iface: string): string {
  return `Could not detect subnet for interface ${iface}. The interface may not exist or netmon may not be running.`;
}

/**
 * Resolve a vNIC's parent network: explicit values first, else poll the interface cache every 0.5 s for up to 3 s.
 * Resolves `undefined` when nothing was found (the caller words the error, after its check for duplicate networks).
 */
export async function resolveSubnet(
  vnic: SubnetRequest,
  vnicName: string,
  interfaces: InterfaceLookup,
  timing: { waitMs?: number; pollMs?: number; signal?: AbortSignal } = {},
): Promise<ResolvedSubnet | undefined> {
  const explicit = explicitSubnet(vnic, vnicName);
  if (explicit) return explicit;
  const waitMs = timing.waitMs ?? SUBNET_WAIT_MS;
  const pollMs = timing.pollMs ?? SUBNET_POLL_MS;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const entry = interfaces.get(vnic.parent_interface);
    if (entry && entry.subnet.trim() !== '') return { subnet: entry.subnet.trim(), gateway: entry.gateway || null };
    if (Date.now() + pollMs > deadline) return undefined;
    await sleep(pollMs, undefined, timing.signal ? { signal: timing.signal } : undefined);
  }
}

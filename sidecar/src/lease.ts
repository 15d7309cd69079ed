/** Parsing of the lease reports our udhcpc hook prints (`ORCH_LEASE {json}`), kept pure for tests. */

export const LEASE_MARKER = 'ORCH_LEASE ';

export interface LeaseReport {
  event: string;
  interface: string;
  ip: string;
  mask: string;
  prefix: number;
  router: string;
  dns: string;
  domain: string;
  lease: string;
  serverid: string;
  timestamp: string;
  /** Set by `leasefail`/`nak` reports, which carry no address. */
  error: string | null;
}

/**
 * Prefix length from udhcpc's `mask`, which busybox passes as a prefix length (`24`) and other builds as a dotted
 * netmask (`255.255.255.0`). The old hook bit-counted `24` as if dotted and configured a /2.
 */
export function prefixFromMask(mask: string): number | undefined {
  const trimmed = mask.trim();
  if (/^\d{1,2}$/.test(trimmed)) {
    const prefix = Number(trimmed);
    return prefix <= 32 ? prefix : undefined;
  }
  const octets = trimmed.split('.');
  if (octets.length !== 4 || !octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)) return undefined;
  const bits = octets.map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  // A netmask is ones then zeros; anything else is not a mask.
  if (!/^1*0*$/.test(bits)) return undefined;
  return bits.indexOf('0') === -1 ? 32 : bits.indexOf('0');
}

const str = (value: unknown): string => (typeof value === 'string' ? value : value == null ? '' : String(value));

/** Returns the report on a marker line, undefined for any other udhcpc output. */
export function parseLeaseLine(line: string): LeaseReport | undefined {
  if (!line.startsWith(LEASE_MARKER)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(line.slice(LEASE_MARKER.length));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const mask = str(r.mask);
  const hookPrefix = typeof r.prefix === 'number' && Number.isInteger(r.prefix) ? r.prefix : undefined;
  // Trust the mask over the hook's arithmetic: both come from the same lease, and the mask is what udhcpc said.
  const prefix = prefixFromMask(mask) ?? hookPrefix ?? 24;
  return {
    event: str(r.event),
    interface: str(r.interface),
    ip: str(r.ip),
    mask,
    prefix,
    router: str(r.router),
    dns: str(r.dns),
    domain: str(r.domain),
    lease: str(r.lease),
    serverid: str(r.serverid),
    timestamp: str(r.timestamp),
    error: typeof r.error === 'string' ? r.error : null,
  };
}

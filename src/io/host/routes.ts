import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ipv4Text } from '../../model/ipv4.js';

/**
 * The IPv4 routes of this process's network namespace (`/proc/net/route`), as CIDRs. On the host that is the host's
 * table; in the agent's container it is the container's, which is why the agent also asks the sidecar (host
 * networking) for the host's. Docker creates a bridge on any subnet it is given, even one the host already routes
 * elsewhere (measured on 20.10 and 26.1), and the host's traffic to that subnet then goes into the bridge.
 */

/** `/proc/net/route` stores addresses as host-order (little-endian on the machines we run on) hex words. */
function hexAddress(hex: string): number | null {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return null;
  const bytes = [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return bytes.reduce((n, b) => n * 256 + b, 0);
}

function prefixOf(mask: number): number | null {
  const bits = mask.toString(2).padStart(32, '0');
  return /^1*0*$/.test(bits) ? (bits.indexOf('0') === -1 ? 32 : bits.indexOf('0')) : null;
}

/** Every route's destination network, except the default route. */
export function parseRouteTable(text: string): string[] {
  const routes: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    const destination = hexAddress(fields[1] ?? '');
    const mask = hexAddress(fields[7] ?? '');
    if (destination === null || mask === null) continue;
    const prefix = prefixOf(mask);
    if (prefix === null || prefix === 0) continue;
    routes.push(`${ipv4Text(destination)}/${prefix}`);
  }
  return routes;
}

/** The routes of this process's network namespace; none when the table cannot be read. */
export async function readRouteTable(procRoot = '/proc'): Promise<string[]> {
  const text = await readFile(join(procRoot, 'net', 'route'), 'utf8').catch(() => '');
  return parseRouteTable(text);
}

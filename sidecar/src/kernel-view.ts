/**
 * Pure conversion of `ip -json addr show` and `ip -json -4 route show` output into the protocol's interface view.
 * Kept apart from the process handling so it can be tested on captured JSON.
 */
import {
  IGNORED_INTERFACE_NAMES,
  IGNORED_INTERFACE_PREFIXES,
  type InterfaceInfo,
  type InterfaceStatus,
  type Ipv4Address,
} from './protocol.js';

/** What we report about an interface, minus the timestamp (so two views can be compared). */
export type InterfaceView = Omit<InterfaceInfo, 'timestamp'>;

interface IpAddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
}
interface IpLink {
  ifindex?: number;
  ifname?: string;
  flags?: string[];
  operstate?: string;
  address?: string;
  link_type?: string;
  addr_info?: IpAddrInfo[];
}
interface IpRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
}

export function isIgnoredInterface(name: string): boolean {
  return IGNORED_INTERFACE_NAMES.includes(name) || IGNORED_INTERFACE_PREFIXES.some((p) => name.startsWith(p));
}

export function ipv4ToInt(address: string): number | undefined {
  const parts = address.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function intToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export function describeIpv4(address: string, prefixlen: number): Ipv4Address | undefined {
  const value = ipv4ToInt(address);
  if (value === undefined || !Number.isInteger(prefixlen) || prefixlen < 0 || prefixlen > 32) return undefined;
  const size = 2 ** (32 - prefixlen);
  const network = intToIpv4(Math.floor(value / size) * size);
  return { address, prefixlen, subnet: `${network}/${prefixlen}`, network_address: network };
}

/**
 * Tunnels and some drivers never report `UP` as operstate; the kernel calls them `UNKNOWN` while they carry
 * traffic, so an `UNKNOWN` link that is administratively up with carrier counts as up.
 */
function linkIsUp(link: IpLink): boolean {
  if (link.operstate === 'UP') return true;
  const flags = link.flags ?? [];
  return link.operstate === 'UNKNOWN' && flags.includes('UP') && flags.includes('LOWER_UP');
}

/** Every interface name in `ip -json addr show` output (to look each one up in sysfs). */
export function linkNames(addrJson: unknown): string[] {
  const links = Array.isArray(addrJson) ? (addrJson as IpLink[]) : [];
  return links.flatMap((l) => (l.ifname ? [l.ifname] : []));
}

/** The old sidecar's WiFi rule: sysfs says so (`wireless`, `phy80211`), or the name is a WiFi name. */
export function interfaceType(name: string, wireless: ReadonlySet<string>): 'wifi' | 'ethernet' {
  return wireless.has(name) || /^(wlan|wlp|wlx)/.test(name) ? 'wifi' : 'ethernet';
}

/**
 * Builds the view of every reportable interface, keyed by name. `physical`: the names the kernel has a hardware
 * device for; `wireless`: those sysfs marks as WiFi.
 */
export function buildInterfaceViews(
  addrJson: unknown,
  routeJson: unknown,
  physical: ReadonlySet<string> = new Set(),
  wireless: ReadonlySet<string> = new Set(),
): Map<string, InterfaceView> {
  const links = Array.isArray(addrJson) ? (addrJson as IpLink[]) : [];
  const routes = Array.isArray(routeJson) ? (routeJson as IpRoute[]) : [];
  const views = new Map<string, InterfaceView>();
  for (const link of links) {
    const name = link.ifname;
    if (!name || typeof link.ifindex !== 'number' || isIgnoredInterface(name)) continue;
    const up = linkIsUp(link);
    const addresses: Ipv4Address[] = [];
    if (up) {
      for (const info of link.addr_info ?? []) {
        if (info.family !== 'inet' || !info.local || typeof info.prefixlen !== 'number') continue;
        const described = describeIpv4(info.local, info.prefixlen);
        if (described) addresses.push(described);
      }
    }
    const defaultRoute = up ? routes.find((r) => r.dst === 'default' && r.dev === name && r.gateway) : undefined;
    const status: InterfaceStatus = !up ? 'down' : addresses.length > 0 ? 'up' : 'no_ipv4';
    views.set(name, {
      interface: name,
      index: link.ifindex,
      operstate: link.operstate ?? 'UNKNOWN',
      ipv4_addresses: addresses,
      gateway: defaultRoute?.gateway ?? null,
      status,
      mac_address: link.address && link.link_type !== 'none' ? link.address.toLowerCase() : null,
      physical: physical.has(name),
      type: interfaceType(name, wireless),
    });
  }
  return views;
}

/** The view sent when an interface has disappeared from the host. */
export function removedView(last: InterfaceView): InterfaceView {
  return {
    interface: last.interface,
    index: last.index,
    operstate: 'DOWN',
    ipv4_addresses: [],
    gateway: null,
    status: 'removed',
    mac_address: last.mac_address,
    physical: last.physical ?? false,
    ...(last.type ? { type: last.type } : {}),
  };
}

export function sameView(a: InterfaceView | undefined, b: InterfaceView | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

interface IpTableRoute {
  type?: string;
  dst?: string;
}

/**
 * The destinations of `ip -json -4 route show table all` as CIDRs (a host route `10.0.0.5` is `10.0.0.5/32`): the
 * networks the host reaches through a route, its own addresses (the `local` table), and ranges it refuses
 * (`unreachable`, `blackhole`). The default route and multicast are left out.
 */
export function routeDestinations(routeJson: unknown): string[] {
  const routes = Array.isArray(routeJson) ? (routeJson as IpTableRoute[]) : [];
  const found = new Set<string>();
  for (const route of routes) {
    const dst = route.dst;
    if (!dst || dst === 'default' || route.type === 'multicast') continue;
    const [address = '', prefix] = dst.split('/');
    if (ipv4ToInt(address) === undefined) continue;
    found.add(prefix === undefined ? `${address}/32` : `${address}/${prefix}`);
  }
  return [...found];
}

export interface MonitorLineTarget {
  name?: string;
  index?: number;
}

/**
 * Which interface an `ip -o monitor link address route` line is about. Link and address lines start with
 * `[Deleted ]<index>: <name>[@peer]`; route lines carry `dev <name>`. Lines we cannot place return `{}`.
 */
export function parseMonitorLine(raw: string): MonitorLineTarget {
  const line = raw.replace(/^\[[A-Z]+\]\s*/, '');
  const linkOrAddress = /^(?:Deleted\s+)?(\d+):\s+([^\s@:]+)/.exec(line);
  if (linkOrAddress) return { index: Number(linkOrAddress[1]), name: linkOrAddress[2] };
  const route = /\bdev\s+(\S+)/.exec(line);
  if (route) return { name: route[1] };
  return {};
}

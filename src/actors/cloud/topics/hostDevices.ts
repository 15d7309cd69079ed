import type { InterfaceInfo, SerialDevice } from '../../../../sidecar/src/protocol.js';
import type {
  GetHostInterfacesRequest,
  GetHostInterfacesResult,
  GetSerialDevicesResult,
  HostInterfaceReport,
} from '../../../io/cloud/topics/index.js';
import { isVirtualInterface } from './consumption.js';

/**
 * Virtual interfaces get_host_interfaces leaves out unless `include_virtual`: the consumption list plus `sit` and
 * `can`, as the old agent's newest releases (get_consumption_orchestrator keeps the shorter list, as they do).
 */
export function isVirtualForHostInterfaces(name: string): boolean {
  const lower = name.toLowerCase();
  return isVirtualInterface(name) || lower.startsWith('sit') || lower.startsWith('can');
}

/**
 * get_host_interfaces, from the sidecar's interface cache, with real MAC addresses (the old agent sent null).
 * Interfaces without IPv4 are listed (`ip_address` null): a port for a dedicated NIC has none. `dedicated` maps vPLC
 * names to the interface dedicated to each (dedicated_nics.json): such an interface says `dedicated_to`, and one
 * that is inside its runtime (so the host no longer sees it) is listed all the same.
 */
export function hostInterfaces(
  req: GetHostInterfacesRequest,
  interfaces: InterfaceInfo[],
  dedicated: ReadonlyMap<string, string> = new Map(),
): GetHostInterfacesResult {
  if (interfaces.length === 0 && dedicated.size === 0) {
    return {
      status: 'error',
      error:
        'Network interface cache is empty. The netmon sidecar may not be running or has not yet discovered interfaces.',
    };
  }
  const includeVirtual = req.include_virtual === true;
  // Absent means detailed; an explicit null behaves as false, as in the old agent.
  const detailed = req.detailed === undefined ? true : req.detailed === true;
  const holderOf = new Map<string, string>();
  for (const [vplc, iface] of dedicated) if (!holderOf.has(iface)) holderOf.set(iface, vplc);
  const rows: HostInterfaceReport[] = [];
  const listed = new Set<string>();
  for (const iface of interfaces) {
    const addresses = iface.ipv4_addresses.map((a) => a.address).filter((a) => !a.startsWith('127.'));
    if (!includeVirtual && isVirtualForHostInterfaces(iface.interface)) continue;
    const row: HostInterfaceReport = {
      name: iface.interface,
      ip_address: addresses[0] ?? null,
      ipv4_addresses: addresses,
      mac_address: iface.mac_address ?? null,
    };
    if (detailed) {
      row.subnet = iface.ipv4_addresses[0]?.subnet ?? null;
      row.gateway = iface.gateway;
    }
    const holder = holderOf.get(iface.interface);
    if (holder !== undefined) row.dedicated_to = holder;
    if (addresses.length === 0 && (iface.type ?? 'ethernet') === 'ethernet') row.dedicated_only = true;
    rows.push(row);
    listed.add(iface.interface);
  }
  for (const [iface, holder] of holderOf) {
    if (listed.has(iface)) continue;
    rows.push({ name: iface, ip_address: null, ipv4_addresses: [], mac_address: null, dedicated_to: holder });
  }
  rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { status: 'success', interfaces: rows };
}

/** get_serial_devices: devices the sidecar reported with a stable by-id path. */
export function serialDevices(devices: SerialDevice[]): GetSerialDevicesResult {
  const list = devices
    .filter((d) => d.by_id)
    .map((d) => ({
      path: d.path,
      device_id: d.by_id,
      vendor_id: d.vendor_id,
      product_id: d.product_id,
      serial: d.serial,
      manufacturer: d.manufacturer,
      product: d.product,
    }));
  return { status: 'success', devices: list, count: list.length };
}

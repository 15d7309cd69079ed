import type { InterfaceInfo, SerialDevice } from '../../../../sidecar/src/protocol.js';
import type {
  GetHostInterfacesRequest,
  GetHostInterfacesResult,
  GetSerialDevicesResult,
  HostInterfaceReport,
} from '../../../io/cloud/topics/index.js';
import { isVirtualInterface } from './consumption.js';

/** get_host_interfaces, from the sidecar's interface cache, with real MAC addresses (the old agent sent null). */
export function hostInterfaces(req: GetHostInterfacesRequest, interfaces: InterfaceInfo[]): GetHostInterfacesResult {
  if (interfaces.length === 0) {
    return {
      status: 'error',
      error:
        'Network interface cache is empty. The netmon sidecar may not be running or has not yet discovered interfaces.',
    };
  }
  const includeVirtual = req.include_virtual === true;
  // Absent means detailed; an explicit null behaves as false, as in the old agent.
  const detailed = req.detailed === undefined ? true : req.detailed === true;
  const rows: HostInterfaceReport[] = [];
  for (const iface of [...interfaces].sort((a, b) => a.interface.localeCompare(b.interface))) {
    const addresses = iface.ipv4_addresses.map((a) => a.address).filter((a) => !a.startsWith('127.'));
    if (!includeVirtual && (isVirtualInterface(iface.interface) || addresses.length === 0)) continue;
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
    rows.push(row);
  }
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

import { CONTAINER_NAME_PATTERN, MAX_CONTAINER_NAME_LENGTH } from '../../model/names.js';
import type { VplcSpec } from '../../model/vplc.js';

/**
 * Checks a vPLC spec for what can be known without touching the host, so a typo is refused at once
 * with a sentence naming the field (the old agent accepted `network_mode: "DHCP"` and then gave the
 * vNIC neither a static IP nor DHCP). Host-dependent checks (subnet detection, MACs in use on the parent)
 * happen in the `prepare` step. Returns null when the spec is acceptable.
 */
export function validateVplcSpec(spec: VplcSpec): string | null {
  const name = spec.name.trim();
  if (!name) return 'Container name must be a non-empty string';
  if (spec.name.length > MAX_CONTAINER_NAME_LENGTH) {
    return `Container name '${spec.name.slice(0, 40)}…' is longer than ${MAX_CONTAINER_NAME_LENGTH} characters; choose a shorter container_name`;
  }
  if (!CONTAINER_NAME_PATTERN.test(spec.name)) {
    return `Container name '${spec.name}' is not a valid Docker container name: use letters, digits, '_', '.' or '-', starting with a letter or digit`;
  }
  if (spec.runtimeVersion !== undefined && !isImageTag(spec.runtimeVersion)) {
    return `runtime_version '${spec.runtimeVersion.slice(0, 40)}${spec.runtimeVersion.length > 40 ? '…' : ''}' is not an image tag: use at most 128 letters, digits, '_', '.' or '-', starting with a letter, digit or '_' (e.g. latest or v4.1.2)`;
  }
  if (spec.vnics.length === 0) return 'At least one vNIC configuration is required';

  const vnicNames = new Map<string, number>();
  const macs = new Map<string, string>();
  for (const [i, vnic] of spec.vnics.entries()) {
    const at = `vnic_configs[${i}]`;
    if (!vnic.name.trim()) return `${at}.name must be a non-empty string`;
    const seen = vnicNames.get(vnic.name);
    if (seen !== undefined)
      return `${at}.name '${vnic.name}' is already used by vnic_configs[${seen}]; every vNIC needs its own name`;
    vnicNames.set(vnic.name, i);
    if (!IFNAME.test(vnic.parent_interface)) {
      return `${at}.parent_interface '${vnic.parent_interface}' is not a valid host interface name`;
    }
    if (vnic.network_mode !== 'static' && vnic.network_mode !== 'dhcp') {
      return `${at}.network_mode '${vnic.network_mode}' is not supported: use 'static' or 'dhcp'`;
    }
    if (vnic.network_mode === 'static') {
      if (!vnic.ip) return `${at}.ip is required when network_mode is 'static'`;
      if (!isIpv4(stripPrefix(vnic.ip))) return `${at}.ip '${vnic.ip}' is not an IPv4 address`;
    } else if (vnic.ip && !isIpv4(stripPrefix(vnic.ip))) {
      return `${at}.ip '${vnic.ip}' is not an IPv4 address`;
    }
    if (vnic.gateway && !isIpv4(vnic.gateway)) return `${at}.gateway '${vnic.gateway}' is not an IPv4 address`;
    if (vnic.subnet && !isSubnet(vnic.subnet)) {
      return `${at}.subnet '${vnic.subnet}' is neither a CIDR (192.168.1.0/24) nor a netmask (255.255.255.0)`;
    }
    for (const [j, server] of (vnic.dns ?? []).entries()) {
      if (!isIpv4(server)) return `${at}.dns[${j}] '${server}' is not an IPv4 address`;
    }
    if (vnic.mac) {
      if (!MAC.test(vnic.mac)) return `${at}.mac '${vnic.mac}' is not a MAC address like 02:5a:10:33:9c:e1`;
      if (Number.parseInt(vnic.mac.slice(0, 2), 16) & 1) {
        return `${at}.mac '${vnic.mac}' is a multicast address; a vNIC needs a unicast MAC (even first octet)`;
      }
      const key = vnic.mac.toLowerCase();
      const other = macs.get(key);
      if (other) return `${at}.mac '${vnic.mac}' is also requested by ${other}; every vNIC needs its own MAC`;
      macs.set(key, at);
    }
  }

  const paths = new Map<string, number>();
  for (const [i, serial] of spec.serials.entries()) {
    const at = `serial_configs[${i}]`;
    if (!serial.name.trim()) return `${at}.name must be a non-empty string`;
    if (!serial.device_id.trim()) return `${at}.device_id must be a non-empty string`;
    // The path is used as root inside the runtime to create a device node: only plain paths under /dev.
    if (!DEV_PATH.test(serial.container_path) || serial.container_path.split('/').includes('..')) {
      return `${at}.container_path '${serial.container_path}' must be a plain path under /dev, e.g. /dev/modbus0`;
    }
    const seen = paths.get(serial.container_path);
    if (seen !== undefined)
      return `${at}.container_path '${serial.container_path}' is already used by serial_configs[${seen}]`;
    paths.set(serial.container_path, i);
  }
  return null;
}

/**
 * A Docker image tag (the grammar of distribution's reference package): the old agent put any string after the ':',
 * so `latest@sha256:…` or `x/../y` became another image reference (docs/decisions.md#runtime_version-is-an-image-tag).
 */
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function isImageTag(text: string): boolean {
  return IMAGE_TAG.test(text);
}

/** Linux interface names: 1–15 characters, no '/', ':' or white space. */
const IFNAME = /^[^/:\s]{1,15}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const DEV_PATH = /^\/dev\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export function stripPrefix(ip: string): string {
  const slash = ip.indexOf('/');
  return slash === -1 ? ip : ip.slice(0, slash);
}

export function isIpv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isSubnet(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash !== -1) {
    const prefix = text.slice(slash + 1);
    return isIpv4(text.slice(0, slash)) && /^\d{1,2}$/.test(prefix) && Number(prefix) <= 32;
  }
  return isIpv4(text);
}

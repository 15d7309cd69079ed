import { join } from 'node:path';
import { CorruptFile } from './atomicFile.js';

/**
 * The three files the old agent keeps (docs/protocol.md#files-on-disk), with their exact paths and formats: a host that
 * ran the old agent is adopted from them, and going back to the old agent must still work, so both sides read and write
 * the same bytes. The agent's own intent journal lives beside them (journal.ts).
 */

export interface StorePaths {
  /** `<data>/data/clients.json`. */
  clients: string;
  /** `<data>/runtime_vnics.json`, not under `data/` (where the old agent keeps it). */
  runtimeVnics: string;
  /** `<data>/data/serial_configs.json`. */
  serialConfigs: string;
  /** `<data>/data/journal.json` (ours). */
  journal: string;
}

export function storePaths(dataDir: string): StorePaths {
  return {
    clients: join(dataDir, 'data', 'clients.json'),
    runtimeVnics: join(dataDir, 'runtime_vnics.json'),
    serialConfigs: join(dataDir, 'data', 'serial_configs.json'),
    journal: join(dataDir, 'data', 'journal.json'),
  };
}

/*
 * Every file is keyed by runtime names that came from outside (the cloud, an old agent, a hand edit), so each is read
 * into a Map: as keys of a plain object, `constructor` or `toString` would find Object's built-ins and `__proto__`
 * would replace the object's prototype instead of being stored.
 */

/** clients.json: runtime name → its address on `<name>_internal`. */
export interface ClientEntry {
  ip: string;
  name: string;
}
export type ClientsFile = Map<string, ClientEntry>;

/** runtime_vnics.json: a vNIC object exactly as the cloud sent it, plus the agent's enrichment keys. */
export type VnicRecord = Record<string, unknown> & { name: string; parent_interface: string; network_mode: string };
export type RuntimeVnicsFile = Map<string, VnicRecord[]>;

/** Keys the agent adds to a received vNIC object in runtime_vnics.json. */
export const VNIC_ENRICHMENT_KEYS = [
  'mac_address',
  'docker_network_name',
  'dhcp_ip',
  'dhcp_gateway',
  'dhcp_dns',
  '_proxy_arp_config',
] as const;

export type SerialStatus = 'connected' | 'disconnected' | 'error';

/** serial_configs.json: one configured serial port and what the agent knows of its device. */
export interface SerialPortRecord {
  name: string;
  device_id: string;
  container_path: string;
  status: SerialStatus;
  current_host_path: string | null;
  major: number | null;
  minor: number | null;
}
export type SerialConfigsFile = Map<string, { serial_ports: SerialPortRecord[] }>;

/**
 * Python's `json.dump(value, f, indent=n)`: the same layout as `JSON.stringify(value, null, n)`, no trailing
 * newline, and non-ASCII characters escaped as `\uXXXX` (Python's default `ensure_ascii`).
 */
export function pythonJson(value: unknown, indent: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * A Map as the JSON object of its entries, in insertion order. `Object.fromEntries` defines each key as an own
 * property, so `__proto__` is written as the key it is.
 */
export function objectOf<T>(map: ReadonlyMap<string, T>): Record<string, T> {
  return Object.fromEntries(map);
}

export const formatClients = (value: ClientsFile): string => pythonJson(objectOf(value), 4);
export const formatRuntimeVnics = (value: RuntimeVnicsFile): string => pythonJson(objectOf(value), 2);
export const formatSerialConfigs = (value: SerialConfigsFile): string => pythonJson(objectOf(value), 2);

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function topLevelObject(raw: unknown, file: string): Record<string, unknown> {
  if (!isRecord(raw)) throw new CorruptFile(`${file} must hold a JSON object at the top level`);
  return raw;
}

/** Entries that are not what the old agent writes are dropped one by one (reported in `skipped`). */
export interface Parsed<T> {
  value: T;
  skipped: string[];
}

export function parseClients(raw: unknown): Parsed<ClientsFile> {
  const value: ClientsFile = new Map();
  const skipped: string[] = [];
  for (const [name, entry] of Object.entries(topLevelObject(raw, 'clients.json'))) {
    if (isRecord(entry) && typeof entry.ip === 'string') {
      value.set(name, { ip: entry.ip, name: typeof entry.name === 'string' ? entry.name : name });
    } else skipped.push(name);
  }
  return { value, skipped };
}

export function isVnicRecord(v: unknown): v is VnicRecord {
  return (
    isRecord(v) &&
    typeof v.name === 'string' &&
    typeof v.parent_interface === 'string' &&
    typeof v.network_mode === 'string'
  );
}

export function parseRuntimeVnics(raw: unknown): Parsed<RuntimeVnicsFile> {
  const value: RuntimeVnicsFile = new Map();
  const skipped: string[] = [];
  for (const [name, list] of Object.entries(topLevelObject(raw, 'runtime_vnics.json'))) {
    if (Array.isArray(list) && list.every(isVnicRecord)) value.set(name, list);
    else skipped.push(name);
  }
  return { value, skipped };
}

function nullableString(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
function nullableInt(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
}

function serialPort(v: unknown): SerialPortRecord | undefined {
  if (!isRecord(v)) return undefined;
  if (typeof v.name !== 'string' || typeof v.device_id !== 'string' || typeof v.container_path !== 'string') {
    return undefined;
  }
  const status: SerialStatus =
    v.status === 'connected' || v.status === 'error' || v.status === 'disconnected' ? v.status : 'disconnected';
  return {
    name: v.name,
    device_id: v.device_id,
    container_path: v.container_path,
    status,
    current_host_path: nullableString(v.current_host_path),
    major: nullableInt(v.major),
    minor: nullableInt(v.minor),
  };
}

export function parseSerialConfigs(raw: unknown): Parsed<SerialConfigsFile> {
  const value: SerialConfigsFile = new Map();
  const skipped: string[] = [];
  for (const [name, entry] of Object.entries(topLevelObject(raw, 'serial_configs.json'))) {
    const ports = isRecord(entry) && Array.isArray(entry.serial_ports) ? entry.serial_ports.map(serialPort) : null;
    if (ports?.every((p): p is SerialPortRecord => p !== undefined)) value.set(name, { serial_ports: ports });
    else skipped.push(name);
  }
  return { value, skipped };
}

import { access, constants } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import Type, { type Static } from 'typebox';
import { displayUrl } from '../model/urls.js';
import { networkText, parseIpv4Network } from '../model/ipv4.js';
import { type ListenAddress, showListenAddress } from '../model/listen.js';
import { ValueProblem } from './option.js';

/**
 * The value parsers of the option table: each reads one trimmed, non-empty text and returns the typed value, or
 * throws `ValueProblem` (with its own words, or none for "not what the option expects"). Ranges that a schema can say (minimum 1, a pattern) are left to the option's schema, so
 * they are checked once, with the rest of the configuration.
 */

function reject(detail?: string): never {
  throw new ValueProblem(detail);
}

/** `~` and `~/…` are the home folder; a relative path is taken from the working folder. */
export function expandPath(text: string): string {
  let path = text;
  if (path === '~') path = homedir();
  else if (path.startsWith('~/')) path = join(homedir(), path.slice(2));
  return isAbsolute(path) ? path : resolve(path);
}

export function httpUrl(text: string): string {
  // The refusal quotes the value, which may carry a password: quote it without.
  const refuse = () => reject(`${JSON.stringify(displayUrl(text))} is not an http(s) URL`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse();
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === '') refuse();
  return text;
}

export const LocalChoiceSchema = Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')]);

/** auto, or a yes/no in the usual spellings (the flag itself gives on or off). */
export function localChoice(text: string): Static<typeof LocalChoiceSchema> {
  const t = text.toLowerCase();
  if (t === 'auto') return 'auto';
  if (['on', 'true', 'yes', '1'].includes(t)) return 'on';
  if (['off', 'false', 'no', '0'].includes(t)) return 'off';
  return reject();
}

export const LogLevelSchema = Type.Union([
  Type.Literal('fatal'),
  Type.Literal('error'),
  Type.Literal('warn'),
  Type.Literal('info'),
  Type.Literal('debug'),
  Type.Literal('trace'),
]);
export type LogLevel = Static<typeof LogLevelSchema>;

// pino's levels, and the old agent's Python level names, in any case.
const LEVELS = new Map<string, LogLevel>([
  ['fatal', 'fatal'],
  ['critical', 'fatal'],
  ['error', 'error'],
  ['warn', 'warn'],
  ['warning', 'warn'],
  ['info', 'info'],
  ['debug', 'debug'],
  ['trace', 'trace'],
]);

export function logLevel(text: string): LogLevel {
  return LEVELS.get(text.toLowerCase()) ?? reject();
}

// Docker's reference grammar, simplified: optional registry host[:port]/, lower-case path components, optional tag
// and digest. Used as the schema's pattern, so the image is checked with the rest of the configuration.
export const IMAGE_REFERENCE =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::\w[\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export const UlimitSchema = Type.Object(
  { name: Type.String({ minLength: 1 }), soft: Type.Integer({ minimum: -1 }), hard: Type.Integer({ minimum: -1 }) },
  { additionalProperties: false },
);
export type Ulimit = Static<typeof UlimitSchema>;

// The names dockerd accepts in HostConfig.Ulimits.
const ULIMIT_NAMES = new Set([
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
]);

function limitValue(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === 'unlimited' || t === '-1') return -1;
  const n = /^\d+$/.test(t) ? Number(t) : Number.NaN;
  return Number.isSafeInteger(n) ? n : null;
}

/** `name=value` or `name=soft:hard`, comma separated; -1 or unlimited is no limit; `none` is no ulimits at all. */
export function ulimits(text: string): Ulimit[] {
  if (text.toLowerCase() === 'none') return [];
  const result: Ulimit[] = [];
  for (const part of text.split(',')) {
    const item = part.trim();
    const match = /^([a-z]+)\s*=\s*([^:]+?)(?:\s*:\s*(.+))?$/i.exec(item);
    if (match === null) {
      reject(`${JSON.stringify(item)} is not name=value or name=soft:hard (e.g. rtprio=99,memlock=-1, or none)`);
    }
    const name = match[1]!.toLowerCase();
    if (!ULIMIT_NAMES.has(name)) {
      reject(`${JSON.stringify(name)} is not a ulimit Docker knows (${[...ULIMIT_NAMES].join(', ')})`);
    }
    if (result.some((u) => u.name === name)) reject(`${name} is given twice`);
    const soft = limitValue(match[2]!);
    const hard = match[3] === undefined ? soft : limitValue(match[3]);
    if (soft === null || hard === null) {
      reject(`${JSON.stringify(item)} needs whole numbers, -1 or unlimited as its limits`);
    }
    if (hard !== -1 && (soft === -1 || soft > hard))
      reject(`${JSON.stringify(item)} has a soft limit above its hard limit`);
    result.push({ name, soft, hard });
  }
  return result;
}

export function showUlimits(list: readonly Ulimit[]): string {
  if (list.length === 0) return 'none';
  return list.map((u) => (u.soft === u.hard ? `${u.name}=${u.soft}` : `${u.name}=${u.soft}:${u.hard}`)).join(',');
}

const PortSchema = Type.Integer({ minimum: 1, maximum: 65535 });

export const DockerHostSchema = Type.Union([
  Type.Object({ socketPath: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
  Type.Object({ host: Type.String({ minLength: 1 }), port: PortSchema }, { additionalProperties: false }),
]);
export type DockerHost = Static<typeof DockerHostSchema>;

export const DOCKER_HOST_FORMS = 'use unix:///path/to/docker.sock, /path/to/docker.sock or tcp://host:port';

/** DOCKER_HOST as the docker CLI reads it, for the forms dockerode can dial (no ssh://, no TLS). */
export function dockerHost(text: string): DockerHost {
  if (text.startsWith('/')) return { socketPath: text };
  if (text.startsWith('unix://')) {
    const socketPath = text.slice('unix://'.length);
    if (!socketPath.startsWith('/'))
      reject(`${JSON.stringify(text)} needs an absolute socket path (${DOCKER_HOST_FORMS})`);
    return { socketPath };
  }
  if (!text.startsWith('tcp://')) reject(`${JSON.stringify(text)} is not supported (${DOCKER_HOST_FORMS})`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    reject();
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.username !== '') {
    reject();
  }
  // Docker's own default port for an unencrypted tcp:// engine address.
  return { host, port: url.port === '' ? 2375 : Number(url.port) };
}

export function showDockerHost(address: DockerHost): string {
  if ('socketPath' in address) return `unix://${address.socketPath}`;
  return `tcp://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/** Digits only; whether 0 is allowed is the schema's to say. */
export function wholeNumber(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  return Number.isSafeInteger(n) ? n : reject();
}

/** Seconds, fractions allowed, as whole milliseconds. */
export function secondsAsMs(text: string): number {
  const ms = /^\d+(?:\.\d+)?$/.test(text) ? Math.round(Number(text) * 1000) : Number.NaN;
  return Number.isSafeInteger(ms) ? ms : reject();
}

export const showMsAsSeconds = (ms: number): string => String(ms / 1000);

export const RestartBudgetSchema = Type.Object(
  { max: Type.Integer({ minimum: 1 }), windowMs: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);
export type RestartBudget = Static<typeof RestartBudgetSchema>;

/** `<crashes>/<seconds>`, e.g. 5/600. */
export function restartBudget(text: string): RestartBudget {
  const match = /^(\d+)\s*\/\s*(\d+)$/.exec(text) ?? reject();
  const max = Number(match[1]);
  const windowMs = Number(match[2]) * 1000;
  return Number.isSafeInteger(max) && Number.isSafeInteger(windowMs) ? { max, windowMs } : reject();
}

export const showRestartBudget = (budget: RestartBudget): string => `${budget.max}/${budget.windowMs / 1000}`;

export const SubnetPoolSchema = Type.Object(
  { base: Type.String({ minLength: 9 }), size: Type.Integer({ minimum: 16, maximum: 29 }) },
  { additionalProperties: false },
);
export type SubnetPool = Static<typeof SubnetPoolSchema>;

/**
 * `<cidr>` (subnets of /28) or, as dockerd's --default-address-pool writes it, `base=<cidr>,size=<prefix>`. The base
 * is normalised to its network address; each subnet must fit in it and hold a gateway, the runtime and the agent.
 */
export function subnetPool(text: string): SubnetPool {
  let baseText = text;
  let size = 28;
  if (text.includes('=')) {
    const fields = new Map<string, string>();
    for (const part of text.split(',')) {
      const [key = '', value = ''] = part.split('=').map((s) => s.trim());
      if (fields.has(key) || (key !== 'base' && key !== 'size'))
        reject(`${JSON.stringify(part.trim())} is neither base=<cidr> nor size=<prefix>`);
      fields.set(key, value);
    }
    baseText = fields.get('base') ?? reject('base=<cidr> is missing');
    const sizeText = fields.get('size') ?? '28';
    size = /^\d{1,2}$/.test(sizeText) ? Number(sizeText) : reject(`size=${sizeText} is not a prefix length`);
  }
  const base = /\//.test(baseText) ? parseIpv4Network(baseText) : null;
  if (base === null) reject(`${JSON.stringify(baseText)} is not an IPv4 network like 172.31.0.0/16`);
  if (size < 16 || size > 29)
    reject(`size ${size} must be 16 to 29 (a /29 still holds a gateway, the runtime and the agent)`);
  if (base.prefix > size) reject(`${networkText(base)} is smaller than one /${size} subnet`);
  return { base: networkText(base), size };
}

export const showSubnetPool = (pool: SubnetPool): string => `base=${pool.base},size=${pool.size}`;

/** The kernel's rule for interface names (IFNAMSIZ): 1–15 characters, no `/`, `:` or white space. */
const INTERFACE_NAME = /^[^\s/:]{1,15}$/;
export const InterfaceListSchema = Type.Union([
  Type.Array(Type.String({ pattern: INTERFACE_NAME.source }), { minItems: 1 }),
  Type.Null(),
]);

/** Comma separated interface names; a repeated name counts once. */
export function interfaceList(text: string): string[] {
  const result: string[] = [];
  for (const part of text.split(',')) {
    const name = part.trim();
    if (!INTERFACE_NAME.test(name) || name === '.' || name === '..') {
      reject(
        `${JSON.stringify(name)} is not an interface name (1-15 characters without /, : or spaces; list them comma separated)`,
      );
    }
    if (!result.includes(name)) result.push(name);
  }
  return result;
}

export const showInterfaceList = (list: readonly string[] | null): string => (list === null ? 'none' : list.join(','));

export const PortsSchema = Type.Array(PortSchema, { minItems: 1 });

/** Comma separated TCP ports; a repeated port counts once. Each port is named when wrong, so they are checked here. */
export function ports(text: string): number[] {
  const result: number[] = [];
  for (const part of text.split(',')) {
    const item = part.trim();
    const port = /^\d+$/.test(item) ? Number(item) : Number.NaN;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      reject(`${JSON.stringify(item)} is not a TCP port (1-65535; list them comma separated)`);
    }
    if (!result.includes(port)) result.push(port);
  }
  return result;
}

export const showPorts = (list: readonly number[]): string => list.join(',');

/** Throws a `ValueProblem` naming the file and the reason (ENOENT, EACCES) when it cannot be read. */
export async function requireReadable(file: string): Promise<void> {
  try {
    await access(file, constants.R_OK);
  } catch (err) {
    reject(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

export const IceServersSchema = Type.Array(Type.String({ pattern: '^(stun|stuns|turn|turns):[^\\s,]+$' }));

/**
 * ICE servers for WebRTC debug sessions: STUN (or TURN) URLs, comma separated; `none` for host candidates only.
 * TURN credentials are not taken here: a URL list printed at start must never carry secrets.
 */
export function iceServers(text: string): string[] {
  if (text.toLowerCase() === 'none') return [];
  const result: string[] = [];
  for (const part of text.split(',')) {
    const url = part.trim();
    if (!/^(stun|stuns|turn|turns):[^\s,]+$/.test(url)) {
      reject(`${JSON.stringify(url)} is not a STUN or TURN URL (e.g. stun:stun.l.google.com:19302), or none`);
    }
    if (!result.includes(url)) result.push(url);
  }
  return result;
}

export const showIceServers = (list: readonly string[]): string => (list.length === 0 ? 'none' : list.join(','));

export const AddressListSchema = Type.Union([Type.Array(Type.String(), { minItems: 1 }), Type.Null()]);

/** Comma separated IPv4 addresses of this host. */
export function ipv4List(text: string): string[] {
  const result: string[] = [];
  for (const part of text.split(',')) {
    const address = part.trim();
    const octets = address.split('.');
    const valid = octets.length === 4 && octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
    if (!valid) reject(`${JSON.stringify(address)} is not an IPv4 address (list them comma separated)`);
    if (!result.includes(address)) result.push(address);
  }
  return result;
}

export const showAddressList = (list: readonly string[] | null): string => (list === null ? 'all' : list.join(','));
export const ListenAddressSchema = Type.Union([
  Type.Object({
    host: Type.String({ minLength: 1, maxLength: 253 }),
    port: Type.Integer({ minimum: 0, maximum: 65_535 }),
  }),
  Type.Null(),
]);

/** `host:port`, `[v6]:port` or `:port` (loopback); port 0 takes any free port. */
export function listenAddress(text: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(text);
  if (!m) return reject(`${JSON.stringify(text)} is not host:port (e.g. 127.0.0.1:8642)`);
  const port = Number(m[3]);
  if (port > 65_535) return reject(`${JSON.stringify(text)}: port ${port} is above 65535`);
  const host = m[1] ?? (m[2] || '127.0.0.1');
  return { host, port };
}

export function showListen(address: ListenAddress | null): string {
  return address === null ? 'none' : showListenAddress(address);
}

/** An on/off switch in the usual spellings (the flag itself gives on or off). */
export function onOff(text: string): boolean {
  const t = text.toLowerCase();
  if (['on', 'true', 'yes', '1'].includes(t)) return true;
  if (['off', 'false', 'no', '0'].includes(t)) return false;
  return reject();
}

export function wsUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return reject(`${JSON.stringify(displayUrl(text))} is not a ws:// or wss:// URL`);
  }
  if ((url.protocol !== 'ws:' && url.protocol !== 'wss:') || url.hostname === '')
    return reject(`${JSON.stringify(displayUrl(text))} is not a ws:// or wss:// URL`);
  return text;
}

import { type FlagSpec, splitToolArgs, UsageError } from '../toolArgs.js';

/**
 * ctl's command line, read into what to send: a topic and its payload (any topic, or a shortcut that builds one),
 * how to show the reply, and whether to follow a long operation to its end. Pure, so every shortcut is tested
 * without an agent.
 */

export type View = 'status' | 'list' | 'ack' | 'http' | 'logs' | 'raw';
/** How a long operation is followed after its ack: status polls and, for start/stop/restart, its event. */
export type FollowKind = 'create' | 'command' | 'delete';

export type CtlAction =
  | { kind: 'help' }
  | { kind: 'version' }
  /** Print what the agent sends unasked (heartbeats, completion events) until Ctrl-C, or `count` of them. */
  | { kind: 'events'; count: number | null }
  | { kind: 'send'; topic: string; payload: Record<string, unknown>; view: View; follow: FollowKind | null };

export interface CtlArgs {
  action: CtlAction;
  /** Print JSON for scripts instead of text for people. */
  json: boolean;
  /** A payload to read from standard input (`--json -`). */
  payloadFromStdin: boolean;
  /** How long one reply may take. */
  timeoutMs: number;
  /** How long a long operation is followed before ctl gives up waiting (the operation goes on). */
  waitMs: number;
  /** The agent's options given on ctl's command line (e.g. --data-dir). */
  agentArgs: string[];
}

const isPayload = (next: string) => next === '-' || next.trimStart().startsWith('{');

const FLAGS: Record<string, FlagSpec> = {
  '--help': { value: false },
  '-h': { value: false },
  '--json': { value: true, takesNext: isPayload },
  '--timeout': { value: true },
  '--wait': { value: true },
  '--no-wait': { value: false },
  // create
  '--parent': { value: true },
  '--ip': { value: true },
  '--subnet': { value: true },
  '--gateway': { value: true },
  '--dhcp': { value: false },
  '--mac': { value: true },
  '--dns': { value: true },
  '--vnic-name': { value: true },
  '--vnic': { value: true, repeat: true },
  '--serial': { value: true, repeat: true },
  // exec
  '--data': { value: true },
  '--header': { value: true, repeat: true },
  '--param': { value: true, repeat: true },
  '--port': { value: true },
  // events
  '--count': { value: true },
};

const SHORTCUT_FLAGS: Record<string, string[]> = {
  create: [
    '--parent',
    '--ip',
    '--subnet',
    '--gateway',
    '--dhcp',
    '--mac',
    '--dns',
    '--vnic-name',
    '--vnic',
    '--serial',
  ],
  exec: ['--data', '--header', '--param', '--port'],
  events: ['--count'],
};

export const FOLLOW_OF_TOPIC: Readonly<Record<string, FollowKind>> = {
  create_new_runtime: 'create',
  start_device: 'command',
  stop_device: 'command',
  restart_device: 'command',
  delete_device: 'delete',
};

const VIEW_OF_TOPIC: Readonly<Record<string, View>> = {
  get_device_status: 'status',
  list_devices: 'list',
  run_command: 'http',
  create_new_runtime: 'ack',
  start_device: 'ack',
  stop_device: 'ack',
  restart_device: 'ack',
  delete_device: 'ack',
};

const COMMAND_TOPICS: Record<string, string> = {
  start: 'start_device',
  stop: 'stop_device',
  restart: 'restart_device',
  delete: 'delete_device',
};

export function ctlUsage(command: string): string {
  const ctl = `${command} ctl`;
  return [
    `Usage: ${ctl} <shortcut or topic> [arguments] [flags]`,
    '',
    'Sends one topic to the local-mode agent through its local endpoint (found in <data-dir>/local/endpoint.json)',
    'and prints the reply. Long operations are followed, step by step, until they end (Ctrl-C stops following;',
    'the operation goes on in the agent).',
    '',
    'Shortcuts:',
    '  list                                  every vPLC and its state (list_devices)',
    '  status [NAME]                         one vPLC in detail (get_device_status), or all of them',
    '  create NAME --parent IF (--ip A/P [--gateway G] | --dhcp) [--mac M] [--dns a,b] [--vnic-name eth0]',
    '         [--vnic name=eth1,parent=IF,ip=A/P,gateway=G,mac=M,dhcp] [--serial name=N,device=ID,path=/dev/X]',
    '                                        create a vPLC (create_new_runtime) and follow it until it runs',
    '  start NAME | stop NAME | restart NAME start_device, stop_device, restart_device, followed to the end',
    '  delete NAME                           delete_device, followed until the vPLC is gone',
    '  exec NAME [METHOD] PATH [--data BODY] [--header "K: V"] [--param k=v] [--port N]',
    "                                        an HTTP request to the runtime's API (run_command), e.g. GET /api/status",
    "  logs NAME                             the runtime's log (run_command GET /api/runtime-logs)",
    "  version                               ctl's and the agent's versions and the endpoint",
    '  events [--count N]                    what the agent sends unasked: heartbeats, completion events',
    '',
    'Any topic:',
    `  ${ctl} <topic> [key=value ...] [--json PAYLOAD]    e.g. ${ctl} get_host_interfaces include_virtual=true`,
    '  A value that reads as JSON (a number, true, a list) is sent as that; correlation_id is added when absent.',
    '',
    'Flags:',
    '  --json [PAYLOAD]   print JSON for scripts (one object, or one line per step when following); PAYLOAD, a',
    "                     JSON object (or - for standard input), is sent as the payload (merged over a shortcut's)",
    '  --no-wait          print the first reply and do not follow the operation',
    '  --wait SECONDS     give up following after this long (default 600)',
    '  --timeout SECONDS  how long one reply may take (default 45)',
    "  --data-dir DIR     the agent's data folder, when it is not the default (or ORCH_DATA_DIR)",
    '',
    'Exit code: 0 when the request succeeded (and the operation ended well), 1 when it was refused or failed,',
    '2 for a usage error, 130 when following was stopped with Ctrl-C.',
  ].join('\n');
}

function seconds(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(n > 0)) throw new UsageError(`${flag} needs a number of seconds, not "${text}"`);
  return Math.round(n * 1000);
}

/** A value as typed: JSON when it reads as JSON (numbers, true, lists, quoted strings), else the text itself. */
function typed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function keyValues(items: readonly string[], what: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${what} "${item}" is not key=value`);
    out[item.slice(0, eq)] = typed(item.slice(eq + 1));
  }
  return out;
}

/** `a=1,b=x,flag` into a map; a bare word is `true`. */
function commaPairs(text: string, flag: string): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq === 0) throw new UsageError(`${flag} "${text}": "${item}" has no name`);
    if (eq === -1) out.set(item, true);
    else out.set(item.slice(0, eq).trim(), item.slice(eq + 1).trim());
  }
  return out;
}

/** `10.1.0.50/24` gives the network `10.1.0.0/24`; a bare address gives none. */
export function subnetOf(ip: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(ip);
  if (!m) return undefined;
  const prefix = Number(m[5]);
  const octets = m.slice(1, 5).map(Number);
  if (prefix > 32 || octets.some((o) => o > 255)) return undefined;
  const value = octets.reduce((acc, o) => acc * 256 + o, 0);
  const mask = prefix === 0 ? 0 : 2 ** 32 - 2 ** (32 - prefix);
  const network = Number((BigInt(value) & BigInt(mask)).toString());
  const parts = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256);
  return `${parts.join('.')}/${prefix}`;
}

interface VnicInput {
  name?: string;
  parent?: string;
  ip?: string;
  subnet?: string;
  gateway?: string;
  mac?: string;
  dns?: string;
  dhcp: boolean;
}

function vnicConfig(v: VnicInput, where: string): Record<string, unknown> {
  if (!v.parent) throw new UsageError(`${where}: give the host interface it sits on (parent, e.g. --parent eth0)`);
  if (v.dhcp && v.ip) throw new UsageError(`${where}: give either an ip or dhcp, not both`);
  if (!v.dhcp && !v.ip) {
    throw new UsageError(`${where}: give a static address with its prefix (e.g. --ip 192.168.1.50/24) or --dhcp`);
  }
  const vnic: Record<string, unknown> = {
    name: v.name ?? 'eth0',
    parent_interface: v.parent,
    network_mode: v.dhcp ? 'dhcp' : 'static',
  };
  if (v.ip) {
    vnic.ip = v.ip.split('/')[0];
    const subnet = v.subnet ?? subnetOf(v.ip);
    if (subnet) vnic.subnet = subnet;
  } else if (v.subnet) {
    vnic.subnet = v.subnet;
  }
  if (v.gateway) vnic.gateway = v.gateway;
  if (v.mac) vnic.mac = v.mac;
  if (v.dns)
    vnic.dns = v.dns
      .split(',')
      .map((d) => d.trim())
      .filter(Boolean);
  return vnic;
}

function createPayload(name: string, flags: Map<string, string[]>): Record<string, unknown> {
  const one = (flag: string) => flags.get(flag)?.[0];
  const vnics: Record<string, unknown>[] = [];
  const single = ['--parent', '--ip', '--subnet', '--gateway', '--dhcp', '--mac', '--dns', '--vnic-name'];
  if (single.some((f) => flags.has(f))) {
    vnics.push(
      vnicConfig(
        {
          name: one('--vnic-name'),
          parent: one('--parent'),
          ip: one('--ip'),
          subnet: one('--subnet'),
          gateway: one('--gateway'),
          mac: one('--mac'),
          dns: one('--dns'),
          dhcp: flags.has('--dhcp'),
        },
        `create ${name}`,
      ),
    );
  }
  for (const text of flags.get('--vnic') ?? []) {
    const p = commaPairs(text, '--vnic');
    const str = (k: string) => {
      const v = p.get(k);
      return v === true ? undefined : v;
    };
    vnics.push(
      vnicConfig(
        {
          name: str('name') ?? `eth${vnics.length}`,
          parent: str('parent'),
          ip: str('ip'),
          subnet: str('subnet'),
          gateway: str('gateway'),
          mac: str('mac'),
          dns: str('dns')?.replaceAll(';', ','),
          dhcp: p.get('dhcp') === true || p.get('mode') === 'dhcp',
        },
        `--vnic ${text}`,
      ),
    );
  }
  if (vnics.length === 0) {
    throw new UsageError(
      `create ${name} needs a network: e.g. --parent eth0 --ip 192.168.1.50/24 --gateway 192.168.1.1, or --parent eth0 --dhcp`,
    );
  }
  const payload: Record<string, unknown> = { container_name: name, vnic_configs: vnics };
  const serials = (flags.get('--serial') ?? []).map((text) => {
    const p = commaPairs(text, '--serial');
    const get = (k: string) => {
      const v = p.get(k);
      if (typeof v !== 'string' || v === '') throw new UsageError(`--serial ${text}: give ${k}=…`);
      return v;
    };
    return { name: get('name'), device_id: get('device'), container_path: get('path') };
  });
  if (serials.length > 0) payload.serial_configs = serials;
  return payload;
}

function execPayload(rest: string[], flags: Map<string, string[]>): Record<string, unknown> {
  const [name, first, second] = rest;
  if (!name || !first) throw new UsageError('exec needs a vPLC and a path, e.g. exec plc1 GET /api/status');
  const [method, api] = second === undefined ? ['GET', first] : [first.toUpperCase(), second];
  if (!api.startsWith('/')) throw new UsageError(`exec: the path must start with /, not "${api}"`);
  const payload: Record<string, unknown> = { device_id: name, method, api };
  const data = flags.get('--data')?.[0];
  if (data !== undefined) payload.data = typed(data);
  const headers = flags.get('--header') ?? [];
  if (headers.length > 0) {
    payload.headers = Object.fromEntries(
      headers.map((h) => {
        const colon = h.indexOf(':');
        if (colon <= 0) throw new UsageError(`--header "${h}" is not "Name: value"`);
        return [h.slice(0, colon).trim(), h.slice(colon + 1).trim()];
      }),
    );
  }
  const params = flags.get('--param') ?? [];
  if (params.length > 0) payload.params = keyValues(params, '--param');
  const port = flags.get('--port')?.[0];
  if (port !== undefined) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--port "${port}" is not a TCP port`);
    payload.port = n;
  }
  return payload;
}

function deviceName(rest: string[], shortcut: string): string {
  const [name, extra] = rest;
  if (!name) throw new UsageError(`${shortcut} needs the vPLC's name, e.g. ${shortcut} plc1`);
  if (extra !== undefined) throw new UsageError(`${shortcut} takes one vPLC name, not "${rest.join(' ')}"`);
  return name;
}

export function parseCtlArgs(argv: readonly string[]): CtlArgs {
  const split = splitToolArgs(argv, FLAGS, 'ctl');
  const { flags } = split;
  const jsonValue = flags.get('--json')?.[0];
  let extra: Record<string, unknown> = {};
  if (jsonValue !== undefined && jsonValue !== '-') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(jsonValue);
    } catch (err) {
      throw new UsageError(`--json PAYLOAD is not JSON (${(err as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new UsageError('--json PAYLOAD must be a JSON object, e.g. \'{"device_id":"plc1"}\'');
    }
    extra = parsed as Record<string, unknown>;
  }
  const base = {
    json: flags.has('--json'),
    payloadFromStdin: jsonValue === '-',
    timeoutMs: flags.has('--timeout') ? seconds(flags.get('--timeout')![0]!, '--timeout') : 45_000,
    waitMs: flags.has('--wait') ? seconds(flags.get('--wait')![0]!, '--wait') : 600_000,
    agentArgs: split.agentArgs,
  };
  const [word, ...rest] = split.positionals;
  if (flags.has('--help') || flags.has('-h') || word === undefined || word === 'help') {
    return { ...base, action: { kind: 'help' } };
  }
  for (const [shortcut, allowed] of Object.entries(SHORTCUT_FLAGS)) {
    if (word === shortcut) continue;
    for (const flag of allowed) {
      if (flags.has(flag)) throw new UsageError(`${flag} belongs to ctl ${shortcut}, not to ${word}`);
    }
  }
  const send = (topic: string, payload: Record<string, unknown>, view: View): CtlArgs => ({
    ...base,
    action: {
      kind: 'send',
      topic,
      payload: { ...payload, ...extra },
      view,
      follow: flags.has('--no-wait') ? null : (FOLLOW_OF_TOPIC[topic] ?? null),
    },
  });
  switch (word) {
    case 'version':
      return { ...base, action: { kind: 'version' } };
    case 'events': {
      const count = flags.get('--count')?.[0];
      if (count !== undefined && !/^[1-9]\d*$/.test(count))
        throw new UsageError(`--count needs a whole number, not "${count}"`);
      return { ...base, action: { kind: 'events', count: count === undefined ? null : Number(count) } };
    }
    case 'list':
      if (rest.length > 0) throw new UsageError(`list takes no arguments (for one vPLC: status ${rest[0]})`);
      return send('list_devices', {}, 'list');
    case 'status':
      if (rest.length === 0) return send('list_devices', {}, 'list');
      return send('get_device_status', { device_id: deviceName(rest, 'status') }, 'status');
    case 'create':
      return send('create_new_runtime', createPayload(deviceName(rest, 'create'), flags), 'ack');
    case 'start':
    case 'stop':
    case 'restart':
    case 'delete':
      return send(COMMAND_TOPICS[word]!, { device_id: deviceName(rest, word) }, 'ack');
    case 'exec':
      return send('run_command', execPayload(rest, flags), 'http');
    case 'logs':
      return send(
        'run_command',
        { device_id: deviceName(rest, 'logs'), method: 'GET', api: '/api/runtime-logs' },
        'logs',
      );
    default: {
      if (!/^[a-z][a-z0-9_:]*$/.test(word))
        throw new UsageError(`"${word}" is neither a shortcut nor a topic (see ctl --help)`);
      return send(word, keyValues(rest, 'argument'), VIEW_OF_TOPIC[word] ?? 'raw');
    }
  }
}

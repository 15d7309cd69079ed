import { readFileSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';

/**
 * The agent's one typed configuration: command-line flags, their environment equivalents and defaults
 * (flags win over the environment). Other tools (installer, tests, e2e harness) drive the agent through
 * exactly these names, so the table below is the interface; `usage()` prints it.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

const LogLevelSchema = Type.Union([
  Type.Literal('fatal'),
  Type.Literal('error'),
  Type.Literal('warn'),
  Type.Literal('info'),
  Type.Literal('debug'),
  Type.Literal('trace'),
]);
const PortSchema = Type.Integer({ minimum: 1, maximum: 65535 });

export const ConfigSchema = Type.Object(
  {
    cloudUrl: Type.String({ minLength: 1 }),
    mtlsDir: Type.String({ minLength: 1 }),
    caFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    dataDir: Type.String({ minLength: 1 }),
    logLevel: LogLevelSchema,
    runtimeImage: Type.String({ minLength: 1 }),
    netmonSocket: Type.String({ minLength: 1 }),
    runtimeUlimits: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1 }),
          soft: Type.Integer({ minimum: -1 }),
          hard: Type.Integer({ minimum: -1 }),
        },
        { additionalProperties: false },
      ),
    ),
    dockerHost: Type.Union([
      Type.Object({ socketPath: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
      Type.Object({ host: Type.String({ minLength: 1 }), port: PortSchema }, { additionalProperties: false }),
    ]),
    logRetentionDays: Type.Integer({ minimum: 1 }),
    restartBudget: Type.Object(
      { max: Type.Integer({ minimum: 1 }), windowMs: Type.Integer({ minimum: 1 }) },
      { additionalProperties: false },
    ),
    runCommand: Type.Object(
      {
        ports: Type.Array(PortSchema, { minItems: 1 }),
        timeoutMs: Type.Integer({ minimum: 1 }),
        maxBytes: Type.Integer({ minimum: 1 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type Ulimit = Config['runtimeUlimits'][number];
export type DockerHost = Config['dockerHost'];

const ConfigCheck = Compile(ConfigSchema);

/** A configuration problem; `message` is one line naming the flag, variable or file. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** `--help` or `--version` was given: print `text` and exit 0 instead of starting. */
export class ConfigInfoRequest extends Error {
  override readonly name = 'ConfigInfoRequest';
  constructor(
    readonly kind: 'help' | 'version',
    readonly text: string,
  ) {
    super(`${kind} requested`);
  }
}

type Key =
  | 'cloudUrl'
  | 'mtlsDir'
  | 'caFile'
  | 'dataDir'
  | 'logLevel'
  | 'runtimeImage'
  | 'netmonSocket'
  | 'runtimeUlimits'
  | 'dockerHost'
  | 'logRetentionDays'
  | 'restartBudget'
  | 'runCommandPorts'
  | 'runCommandTimeout'
  | 'runCommandMaxBytes';

export interface ConfigOption {
  readonly key: Key;
  /** Long flag, or null for settings that only come from the environment (DOCKER_HOST). */
  readonly flag: string | null;
  readonly short: string | null;
  readonly env: string;
  /** Placeholder shown in `--help`. */
  readonly arg: string;
  /** Default as text; null when there is none. */
  readonly default: string | null;
  readonly description: string;
}

export const DEFAULT_CLOUD_URL = 'https://api.autonomylogic.com:3001';
export const DEFAULT_RUNTIME_IMAGE = 'ghcr.io/autonomy-logic/openplc-runtime:latest';

/** The interface table, in `--help` order. */
export const CONFIG_OPTIONS: readonly ConfigOption[] = [
  {
    key: 'cloudUrl',
    flag: '--cloud-url',
    short: null,
    env: 'ORCH_CLOUD_URL',
    arg: '<url>',
    default: DEFAULT_CLOUD_URL,
    description: 'Socket.IO endpoint of the Autonomy Edge Cloud (http or https).',
  },
  {
    key: 'mtlsDir',
    flag: '--mtls-dir',
    short: null,
    env: 'ORCH_MTLS_DIR',
    arg: '<dir>',
    default: '~/.mtls',
    description: 'Folder holding the client certificate client.crt and its key client.key (PEM).',
  },
  {
    key: 'caFile',
    flag: '--ca-file',
    short: null,
    env: 'ORCH_CA_FILE',
    arg: '<file>',
    default: null,
    description: 'PEM bundle of CAs to trust in addition to the system CAs when verifying the cloud.',
  },
  {
    key: 'dataDir',
    flag: '--data-dir',
    short: null,
    env: 'ORCH_DATA_DIR',
    arg: '<dir>',
    default: '/var/orchestrator',
    description: 'Shared data folder: state files, logs/, debug/, DHCP leases.',
  },
  {
    key: 'logLevel',
    flag: '--log-level',
    short: '-l',
    env: 'ORCH_LOG_LEVEL',
    arg: '<level>',
    default: 'info',
    description:
      'fatal, error, warn, info, debug or trace (DEBUG, INFO, WARNING, ERROR, CRITICAL also accepted, any case).',
  },
  {
    key: 'runtimeImage',
    flag: '--runtime-image',
    short: null,
    env: 'ORCH_RUNTIME_IMAGE',
    arg: '<image>',
    default: DEFAULT_RUNTIME_IMAGE,
    description: 'OpenPLC runtime image used for new vPLCs.',
  },
  {
    key: 'netmonSocket',
    flag: '--netmon-socket',
    short: null,
    env: 'ORCH_NETMON_SOCKET',
    arg: '<path>',
    default: '<data-dir>/netmon.sock',
    description: 'Unix socket of the network-monitor sidecar.',
  },
  {
    key: 'runtimeUlimits',
    flag: '--runtime-ulimits',
    short: null,
    env: 'ORCH_RUNTIME_ULIMITS',
    arg: '<list>',
    default: 'rtprio=99,memlock=-1',
    description:
      'Ulimits of runtime containers: name=value or name=soft:hard, comma separated; -1 = unlimited; none = no ulimits.',
  },
  {
    key: 'dockerHost',
    flag: null,
    short: null,
    env: 'DOCKER_HOST',
    arg: '<address>',
    default: '/var/run/docker.sock',
    description: 'Docker engine: unix:///path, /path or tcp://host:port.',
  },
  {
    key: 'logRetentionDays',
    flag: '--log-retention-days',
    short: null,
    env: 'ORCH_LOG_RETENTION_DAYS',
    arg: '<days>',
    default: '14',
    description: 'Daily log files older than this many days are deleted.',
  },
  {
    key: 'restartBudget',
    flag: '--restart-budget',
    short: null,
    env: 'ORCH_RESTART_BUDGET',
    arg: '<n>/<seconds>',
    default: '5/600',
    description:
      'A vPLC that crashes <n> times within the window goes to failed; earlier crashes are restarted with backoff.',
  },
  {
    key: 'runCommandPorts',
    flag: '--run-command-ports',
    short: null,
    env: 'ORCH_RUN_COMMAND_PORTS',
    arg: '<ports>',
    default: '8443',
    description: 'Runtime ports run_command may reach, comma separated (8443 is https, others http).',
  },
  {
    key: 'runCommandTimeout',
    flag: '--run-command-timeout',
    short: null,
    env: 'ORCH_RUN_COMMAND_TIMEOUT',
    arg: '<seconds>',
    default: '30',
    description: 'Time limit of one run_command request to a runtime.',
  },
  {
    key: 'runCommandMaxBytes',
    flag: '--run-command-max-bytes',
    short: null,
    env: 'ORCH_RUN_COMMAND_MAX_BYTES',
    arg: '<bytes>',
    default: '10485760',
    description: 'Largest run_command request or response body.',
  },
];

let cachedVersion: string | null = null;

/** The agent's version from package.json (src/ when run with tsx, dist/src/ when built). */
export function agentVersion(): string {
  if (cachedVersion !== null) return cachedVersion;
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      // Read once, only for --version and the start-up banner: not a hot path.
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'orchestrator-agent' && typeof pkg.version === 'string') {
        cachedVersion = pkg.version;
        return cachedVersion;
      }
    } catch {
      // try the next candidate
    }
  }
  cachedVersion = 'unknown';
  return cachedVersion;
}

export function usage(): string {
  const lines = [
    `orchestrator-agent ${agentVersion()}: runs OpenPLC vPLCs for the Autonomy Edge Cloud.`,
    '',
    'Usage: orchestrator-agent [options]',
    '',
    'Every option can also be set by its environment variable; a flag wins over the variable.',
    'Flags take their value as "--flag value" or "--flag=value".',
    '',
  ];
  for (const option of CONFIG_OPTIONS) {
    const names = option.flag === null ? '' : [option.short, option.flag].filter((n) => n !== null).join(', ');
    const head = option.flag === null ? `(environment only) ${option.env}` : `${names} ${option.arg}   [${option.env}]`;
    lines.push(`  ${head}`);
    lines.push(`      ${option.description}`);
    lines.push(`      Default: ${option.default ?? 'none'}`);
  }
  lines.push('  -h, --help');
  lines.push('      Print this text and exit.');
  lines.push('  --version');
  lines.push('      Print the version and exit.');
  return lines.join('\n');
}

/** Where a raw value came from; `label` is what error messages name. */
interface Raw {
  value: string;
  label: string;
}

const byFlag = new Map<string, ConfigOption>();
for (const option of CONFIG_OPTIONS) {
  if (option.flag !== null) byFlag.set(option.flag, option);
  if (option.short !== null) byFlag.set(option.short, option);
}

function fail(label: string, problem: string): never {
  throw new ConfigError(`${label}: ${problem}`);
}

function readFlags(argv: readonly string[]): Map<Key, Raw> {
  if (argv.some((a) => a === '--help' || a === '-h')) throw new ConfigInfoRequest('help', usage());
  if (argv.includes('--version')) throw new ConfigInfoRequest('version', `orchestrator-agent ${agentVersion()}`);
  const raw = new Map<Key, Raw>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-') || token === '-') {
      throw new ConfigError(`unexpected argument ${JSON.stringify(token)} (see --help)`);
    }
    const eq = token.indexOf('=');
    const name = eq === -1 ? token : token.slice(0, eq);
    const option = byFlag.get(name);
    if (option === undefined || option.flag === null) throw new ConfigError(`unknown flag ${name} (see --help)`);
    let value: string;
    if (eq !== -1) {
      value = token.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && byFlag.has(next.split('=')[0]!))) {
        fail(option.flag, 'missing value');
      }
      value = next;
      i++;
    }
    if (value.trim() === '') fail(option.flag, 'empty value');
    raw.set(option.key, { value: value.trim(), label: option.flag });
  }
  return raw;
}

function pick(key: Key, flags: Map<Key, Raw>, env: Record<string, string | undefined>): Raw | null {
  const option = CONFIG_OPTIONS.find((o) => o.key === key)!;
  const fromFlag = flags.get(key);
  if (fromFlag !== undefined) return fromFlag;
  const fromEnv = env[option.env];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return { value: fromEnv.trim(), label: option.env };
  return null;
}

function labelOf(key: Key): string {
  const option = CONFIG_OPTIONS.find((o) => o.key === key)!;
  return option.flag ?? option.env;
}

function expandPath(value: string): string {
  let path = value;
  if (path === '~') path = homedir();
  else if (path.startsWith('~/')) path = join(homedir(), path.slice(2));
  return isAbsolute(path) ? path : resolve(path);
}

function parseCloudUrl(raw: Raw): string {
  let url: URL;
  try {
    url = new URL(raw.value);
  } catch {
    fail(raw.label, `${JSON.stringify(raw.value)} is not an http(s) URL`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === '') {
    fail(raw.label, `${JSON.stringify(raw.value)} is not an http(s) URL`);
  }
  return raw.value;
}

const LEVEL_ALIASES: Record<string, LogLevel> = {
  fatal: 'fatal',
  critical: 'fatal',
  error: 'error',
  warn: 'warn',
  warning: 'warn',
  info: 'info',
  debug: 'debug',
  trace: 'trace',
};

function parseLogLevel(raw: Raw): LogLevel {
  const level = LEVEL_ALIASES[raw.value.toLowerCase()];
  if (level === undefined) {
    fail(
      raw.label,
      `${JSON.stringify(raw.value)} is not a log level (use fatal, error, warn, info, debug, trace or DEBUG, INFO, WARNING, ERROR, CRITICAL)`,
    );
  }
  return level;
}

// Docker's reference grammar, simplified: optional registry host[:port]/, lower-case path components, optional tag and digest.
const IMAGE_REFERENCE =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::\w[\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

function parseImage(raw: Raw): string {
  if (!IMAGE_REFERENCE.test(raw.value)) {
    fail(raw.label, `${JSON.stringify(raw.value)} is not an image reference (e.g. ${DEFAULT_RUNTIME_IMAGE})`);
  }
  return raw.value;
}

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

function parseLimitValue(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === 'unlimited' || t === '-1') return -1;
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : null;
}

function parseUlimits(raw: Raw | null): Ulimit[] {
  const value = raw?.value ?? 'rtprio=99,memlock=-1';
  const label = raw?.label ?? labelOf('runtimeUlimits');
  if (value.toLowerCase() === 'none') return [];
  const result: Ulimit[] = [];
  for (const part of value.split(',')) {
    const item = part.trim();
    const match = /^([a-z]+)\s*=\s*([^:]+?)(?:\s*:\s*(.+))?$/i.exec(item);
    if (match === null) {
      fail(label, `${JSON.stringify(item)} is not name=value or name=soft:hard (e.g. rtprio=99,memlock=-1, or none)`);
    }
    const name = match[1]!.toLowerCase();
    if (!ULIMIT_NAMES.has(name)) {
      fail(label, `${JSON.stringify(name)} is not a ulimit Docker knows (${[...ULIMIT_NAMES].join(', ')})`);
    }
    if (result.some((u) => u.name === name)) fail(label, `${name} is given twice`);
    const soft = parseLimitValue(match[2]!);
    const hard = match[3] === undefined ? soft : parseLimitValue(match[3]);
    if (soft === null || hard === null) {
      fail(label, `${JSON.stringify(item)} needs whole numbers, -1 or unlimited as its limits`);
    }
    if (hard !== -1 && (soft === -1 || soft > hard))
      fail(label, `${JSON.stringify(item)} has a soft limit above its hard limit`);
    result.push({ name, soft, hard });
  }
  return result;
}

const DOCKER_HOST_FORMS = 'use unix:///path/to/docker.sock, /path/to/docker.sock or tcp://host:port';

function parseDockerHost(raw: Raw | null): DockerHost {
  if (raw === null) return { socketPath: '/var/run/docker.sock' };
  const value = raw.value;
  if (value.startsWith('/')) return { socketPath: value };
  if (value.startsWith('unix://')) {
    const socketPath = value.slice('unix://'.length);
    if (!socketPath.startsWith('/'))
      fail(raw.label, `${JSON.stringify(value)} needs an absolute socket path (${DOCKER_HOST_FORMS})`);
    return { socketPath };
  }
  if (value.startsWith('tcp://')) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      fail(raw.label, `${JSON.stringify(value)} is not a valid address (${DOCKER_HOST_FORMS})`);
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.username !== '') {
      fail(raw.label, `${JSON.stringify(value)} is not a valid address (${DOCKER_HOST_FORMS})`);
    }
    // Docker's own default port for an unencrypted tcp:// engine address.
    const port = url.port === '' ? 2375 : Number(url.port);
    return { host, port };
  }
  fail(raw.label, `${JSON.stringify(value)} is not supported (${DOCKER_HOST_FORMS})`);
}

function parsePositiveInteger(raw: Raw, what: string, minimum = 1): number {
  const n = /^\d+$/.test(raw.value) ? Number(raw.value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < minimum) {
    fail(raw.label, `${JSON.stringify(raw.value)} is not ${what}`);
  }
  return n;
}

function parseRestartBudget(raw: Raw | null): Config['restartBudget'] {
  if (raw === null) return { max: 5, windowMs: 600_000 };
  const match = /^(\d+)\s*\/\s*(\d+)$/.exec(raw.value);
  const max = match === null ? Number.NaN : Number(match[1]);
  const windowS = match === null ? Number.NaN : Number(match[2]);
  if (
    !Number.isSafeInteger(max) ||
    !Number.isSafeInteger(windowS) ||
    max < 1 ||
    windowS < 1 ||
    windowS * 1000 > Number.MAX_SAFE_INTEGER
  ) {
    fail(raw.label, `${JSON.stringify(raw.value)} is not <crashes>/<seconds> with at least 1 crash (e.g. 5/600)`);
  }
  return { max, windowMs: windowS * 1000 };
}

function parsePorts(raw: Raw | null): number[] {
  if (raw === null) return [8443];
  const ports: number[] = [];
  for (const part of raw.value.split(',')) {
    const text = part.trim();
    const port = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      fail(raw.label, `${JSON.stringify(text)} is not a TCP port (1-65535; list them comma separated)`);
    }
    if (!ports.includes(port)) ports.push(port);
  }
  return ports;
}

function parseTimeoutMs(raw: Raw | null): number {
  if (raw === null) return 30_000;
  const seconds = /^\d+(?:\.\d+)?$/.test(raw.value) ? Number(raw.value) : Number.NaN;
  const ms = Math.round(seconds * 1000);
  if (!Number.isSafeInteger(ms) || ms < 1)
    fail(raw.label, `${JSON.stringify(raw.value)} is not a positive number of seconds`);
  return ms;
}

async function requireReadable(label: string, file: string): Promise<void> {
  try {
    await access(file, constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    fail(label, `cannot read ${file} (${code})`);
  }
}

/**
 * Build the configuration from `argv` (without node and script, i.e. `process.argv.slice(2)`) and `env`.
 * Rejects with `ConfigError` (one line naming the flag, variable or file) or `ConfigInfoRequest` for --help/--version.
 */
export async function parseConfig(argv: string[], env: Record<string, string | undefined>): Promise<Config> {
  const flags = readFlags(argv);
  const get = (key: Key) => pick(key, flags, env);

  const cloudUrlRaw = get('cloudUrl');
  const cloudUrl = cloudUrlRaw === null ? DEFAULT_CLOUD_URL : parseCloudUrl(cloudUrlRaw);

  const mtlsRaw = get('mtlsDir');
  const mtlsDir = expandPath(mtlsRaw?.value ?? '~/.mtls');
  const mtlsLabel = mtlsRaw?.label ?? labelOf('mtlsDir');

  const caRaw = get('caFile');
  const caFile = caRaw === null ? null : expandPath(caRaw.value);

  const dataRaw = get('dataDir');
  const dataDir = expandPath(dataRaw?.value ?? '/var/orchestrator');

  const levelRaw = get('logLevel');
  const logLevel = levelRaw === null ? 'info' : parseLogLevel(levelRaw);

  const imageRaw = get('runtimeImage');
  const runtimeImage = imageRaw === null ? DEFAULT_RUNTIME_IMAGE : parseImage(imageRaw);

  const netmonRaw = get('netmonSocket');
  const netmonSocket = netmonRaw === null ? join(dataDir, 'netmon.sock') : expandPath(netmonRaw.value);

  const retentionRaw = get('logRetentionDays');
  const logRetentionDays =
    retentionRaw === null ? 14 : parsePositiveInteger(retentionRaw, 'a whole number of days (1 or more)');

  const maxBytesRaw = get('runCommandMaxBytes');
  const maxBytes =
    maxBytesRaw === null ? 10_485_760 : parsePositiveInteger(maxBytesRaw, 'a whole number of bytes (1 or more)');

  const config: Config = {
    cloudUrl,
    mtlsDir,
    caFile,
    dataDir,
    logLevel,
    runtimeImage,
    netmonSocket,
    runtimeUlimits: parseUlimits(get('runtimeUlimits')),
    dockerHost: parseDockerHost(get('dockerHost')),
    logRetentionDays,
    restartBudget: parseRestartBudget(get('restartBudget')),
    runCommand: {
      ports: parsePorts(get('runCommandPorts')),
      timeoutMs: parseTimeoutMs(get('runCommandTimeout')),
      maxBytes,
    },
  };

  // Syntax first (above), then the file system, so a typo is reported before a missing certificate.
  await requireReadable(mtlsLabel, join(mtlsDir, 'client.crt'));
  await requireReadable(mtlsLabel, join(mtlsDir, 'client.key'));
  if (caFile !== null) await requireReadable(caRaw!.label, caFile);

  if (!ConfigCheck.Check(config)) {
    const first = [...ConfigCheck.Errors(config)][0];
    throw new ConfigError(
      `configuration is inconsistent at ${first?.instancePath ?? '/'}: ${first?.message ?? 'invalid'}`,
    );
  }
  return config;
}

function formatUlimits(ulimits: readonly Ulimit[]): string {
  if (ulimits.length === 0) return 'none';
  return ulimits.map((u) => (u.soft === u.hard ? `${u.name}=${u.soft}` : `${u.name}=${u.soft}:${u.hard}`)).join(',');
}

function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.username === '' && url.password === '') return text;
    url.username = url.username === '' ? '' : '[redacted]';
    url.password = url.password === '' ? '' : '[redacted]';
    return url.toString();
  } catch {
    return text;
  }
}

/** What to print at start: every setting, paths included, never file contents or credentials. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    version: agentVersion(),
    cloudUrl: redactUrl(config.cloudUrl),
    mtlsDir: config.mtlsDir,
    caFile: config.caFile,
    dataDir: config.dataDir,
    logLevel: config.logLevel,
    runtimeImage: config.runtimeImage,
    netmonSocket: config.netmonSocket,
    runtimeUlimits: formatUlimits(config.runtimeUlimits),
    dockerHost:
      'socketPath' in config.dockerHost
        ? `unix://${config.dockerHost.socketPath}`
        : `tcp://${config.dockerHost.host.includes(':') ? `[${config.dockerHost.host}]` : config.dockerHost.host}:${config.dockerHost.port}`,
    logRetentionDays: config.logRetentionDays,
    restartBudget: `${config.restartBudget.max} restarts in ${config.restartBudget.windowMs / 1000} s`,
    runCommand: {
      ports: [...config.runCommand.ports],
      timeoutSeconds: config.runCommand.timeoutMs / 1000,
      maxBytes: config.runCommand.maxBytes,
    },
  };
}

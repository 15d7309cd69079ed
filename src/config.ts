import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import Type, { type Static } from 'typebox';
import { buildVersion } from './version.js';
import { Compile } from 'typebox/compile';
import {
  ConfigError,
  ConfigInfoRequest,
  Derived,
  helpLines,
  type ListedOption,
  listOptions,
  markdownTable,
  option,
  optionAt,
  readOptions,
  refusal,
  schemaOf,
  ValueProblem,
  valueAt,
} from './config/option.js';
import {
  DOCKER_HOST_FORMS,
  DockerHostSchema,
  dockerHost,
  expandPath,
  httpUrl,
  IMAGE_REFERENCE,
  LocalChoiceSchema,
  LogLevelSchema,
  localChoice,
  logLevel,
  PortsSchema,
  ports,
  RestartBudgetSchema,
  requireReadable,
  restartBudget,
  secondsAsMs,
  showDockerHost,
  showMsAsSeconds,
  showPorts,
  showInterfaceList,
  InterfaceListSchema,
  interfaceList,
  ListenAddressSchema,
  listenAddress,
  onOff,
  showListen,
  wsUrl,
  showRestartBudget,
  showSubnetPool,
  showUlimits,
  SubnetPoolSchema,
  subnetPool,
  UlimitSchema,
  ulimits,
  wholeNumber,
  AddressListSchema,
  IceServersSchema,
  iceServers,
  ipv4List,
  showAddressList,
  showIceServers,
} from './config/parsers.js';

import { DEFAULT_MAX_MESSAGE_BYTES } from './io/cloud/connection.js';
import { DEFAULT_LOG_FILE_MAX_BYTES } from './io/log/dailyFile.js';
import { isLoopbackHost, showListenAddress } from './model/listen.js';
import { displayUrl } from './model/urls.js';
import { DEFAULT_INTERNAL_SUBNET_POOL, DEFAULT_MAX_VPLCS } from './model/vplc.js';

export { ConfigError, ConfigInfoRequest } from './config/option.js';
export type { DockerHost, LogLevel, Ulimit } from './config/parsers.js';

/**
 * The agent's one typed configuration: command-line flags, their environment equivalents and defaults (a flag wins
 * over its variable, a variable over the default). Installer, tests and the e2e harness drive the agent through
 * exactly these names, so the table below is the interface: --help, the README table and the schema come from it.
 */

const RUNTIME_IMAGE = 'ghcr.io/autonomy-logic/openplc-runtime:latest';
const AGENT_IMAGE = 'ghcr.io/autonomy-logic/orchestrator-agent:latest';
const NETMON_IMAGE = 'ghcr.io/autonomy-logic/autonomy-netmon:latest';

/** Where `--inspect` and `--metrics` given alone listen: this host only. */
export const DEFAULT_INSPECT_ADDRESS = '127.0.0.1:8642';
export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9464';

/** A path default as a user writes it; expanded when used, since the home folder differs per machine. */
const pathDefault = (text: string) => new Derived(text, () => expandPath(text));

const ROOT_DATA_DIR = '/var/orchestrator';
const USER_DATA_DIR = '~/.local/state/orchestrator-agent';

/**
 * Root (the installer's container, a plant host) keeps the old agent's shared folder; anyone else cannot write
 * there, so a developer's `npm start` keeps its state in the per-user state folder instead.
 */
export function defaultDataDir(uid: number | undefined, home: string = homedir()): string {
  return uid === undefined || uid === 0 ? ROOT_DATA_DIR : join(home, USER_DATA_DIR.slice(2));
}

const OPTIONS = {
  cloudUrl: option({
    flag: 'cloud-url',
    env: 'ORCH_CLOUD_URL',
    placeholder: '<url>',
    help: 'Socket.IO endpoint of the Autonomy Edge Cloud (http or https).',
    schema: Type.String({ minLength: 1 }),
    parse: httpUrl,
    default: 'https://api.autonomylogic.com:3001',
    expected: 'an http(s) URL',
  }),
  mtlsDir: option({
    flag: 'mtls-dir',
    env: 'ORCH_MTLS_DIR',
    placeholder: '<dir>',
    help: 'Folder holding the client certificate client.crt and its key client.key (PEM).',
    schema: Type.String({ minLength: 1 }),
    parse: expandPath,
    default: pathDefault('~/.mtls'),
    expected: 'a folder',
    check: async (dir) => {
      await requireReadable(join(dir, 'client.crt'));
      await requireReadable(join(dir, 'client.key'));
    },
  }),
  caFile: option({
    flag: 'ca-file',
    env: 'ORCH_CA_FILE',
    placeholder: '<file>',
    help: 'PEM bundle of CAs to trust in addition to the system CAs when verifying the cloud.',
    schema: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    parse: expandPath,
    default: null,
    expected: 'a file',
    check: async (file) => {
      if (file !== null) await requireReadable(file);
    },
  }),
  local: option({
    flag: 'local',
    switch: true,
    env: 'ORCH_LOCAL',
    placeholder: 'auto|on|off',
    help:
      'Local mode: a private CA under <data-dir>/local and an embedded cloud endpoint on 127.0.0.1, driven with ' +
      '"orchestrator-agent ctl", instead of the Autonomy cloud. auto chooses it when neither --cloud-url nor ' +
      '--mtls-dir is given and the mTLS folder holds no client.crt; --local forces it, --no-local requires the cloud.',
    schema: LocalChoiceSchema,
    parse: localChoice,
    default: 'auto',
    expected: 'auto, on or off',
  }),
  cloudMaxMessageBytes: option({
    flag: 'cloud-max-message-bytes',
    env: 'ORCH_CLOUD_MAX_MESSAGE_BYTES',
    placeholder: '<bytes>',
    help:
      'Largest message accepted from the cloud, after decompression. The default holds a run_command upload of 32 MiB ' +
      'of base64 (a 24 MiB program); a larger message closes the connection (WebSocket code 1009) and the agent reconnects.',
    schema: Type.Integer({ minimum: 65_536 }),
    parse: wholeNumber,
    default: DEFAULT_MAX_MESSAGE_BYTES,
    expected: 'a whole number of bytes (65536 or more)',
  }),
  dataDir: option({
    flag: 'data-dir',
    env: 'ORCH_DATA_DIR',
    placeholder: '<dir>',
    help: 'Shared data folder: state files, logs/, debug/, DHCP leases, local/ (local mode).',
    schema: Type.String({ minLength: 1 }),
    parse: expandPath,
    default: new Derived(`${ROOT_DATA_DIR} as root, else ${USER_DATA_DIR}`, () => defaultDataDir(process.getuid?.())),
    expected: 'a folder',
  }),
  logLevel: option({
    flag: 'log-level',
    short: 'l',
    env: 'ORCH_LOG_LEVEL',
    placeholder: '<level>',
    help: "fatal, error, warn, info, debug or trace (the Python agent's DEBUG, INFO, WARNING, ERROR, CRITICAL also accepted, any case).",
    schema: LogLevelSchema,
    parse: logLevel,
    default: 'info',
    expected: 'a log level (use fatal, error, warn, info, debug, trace or DEBUG, INFO, WARNING, ERROR, CRITICAL)',
  }),
  runtimeImage: option({
    flag: 'runtime-image',
    env: 'ORCH_RUNTIME_IMAGE',
    placeholder: '<image>',
    help: 'OpenPLC runtime image used for new vPLCs.',
    schema: Type.String({ pattern: IMAGE_REFERENCE.source }),
    parse: (text) => text,
    default: RUNTIME_IMAGE,
    expected: `an image reference (e.g. ${RUNTIME_IMAGE})`,
  }),
  upgradeAgentImage: option({
    flag: 'upgrade-agent-image',
    env: 'ORCH_UPGRADE_AGENT_IMAGE',
    placeholder: '<image>',
    help: 'Agent image upgrade_orchestrator pulls and installs (the old agent always used this one).',
    schema: Type.String({ pattern: IMAGE_REFERENCE.source }),
    parse: (text) => text,
    default: AGENT_IMAGE,
    expected: `an image reference (e.g. ${AGENT_IMAGE})`,
  }),
  upgradeNetmonImage: option({
    flag: 'upgrade-netmon-image',
    env: 'ORCH_UPGRADE_NETMON_IMAGE',
    placeholder: '<image>',
    help: 'Sidecar image upgrade_orchestrator pulls and recreates autonomy_netmon from.',
    schema: Type.String({ pattern: IMAGE_REFERENCE.source }),
    parse: (text) => text,
    default: NETMON_IMAGE,
    expected: `an image reference (e.g. ${NETMON_IMAGE})`,
  }),
  upgradeConnectTimeout: option({
    flag: 'upgrade-connect-timeout',
    env: 'ORCH_UPGRADE_CONNECT_TIMEOUT',
    placeholder: '<seconds>',
    help: 'After an upgrade the new agent must connect to the cloud within this many seconds, or the upgrader puts the previous agent back (rollback).',
    schema: Type.Integer({ minimum: 5_000, maximum: 3_600_000 }),
    parse: secondsAsMs,
    show: showMsAsSeconds,
    default: 120_000,
    expected: 'a number of seconds between 5 and 3600',
  }),
  netmonSocket: option({
    flag: 'netmon-socket',
    env: 'ORCH_NETMON_SOCKET',
    placeholder: '<path>',
    help: 'Unix socket of the network-monitor sidecar.',
    schema: Type.String({ minLength: 1 }),
    parse: expandPath,
    // dataDir is listed, and so read, before this option.
    default: new Derived('<data-dir>/netmon.sock', (earlier) => join(String(earlier.dataDir), 'netmon.sock')),
    expected: 'a path',
  }),
  runtimeUlimits: option({
    flag: 'runtime-ulimits',
    env: 'ORCH_RUNTIME_ULIMITS',
    placeholder: '<list>',
    help:
      'Ulimits of runtime containers, as the Python agent sets them: name=value or name=soft:hard, comma separated; ' +
      '-1 or unlimited = no limit; none = no ulimits, for hosts whose engine may not grant them.',
    schema: Type.Array(UlimitSchema),
    parse: ulimits,
    show: showUlimits,
    default: [
      { name: 'rtprio', soft: 99, hard: 99 },
      { name: 'memlock', soft: -1, hard: -1 },
    ],
    expected: 'a list of ulimits (e.g. rtprio=99,memlock=-1, or none)',
  }),
  dockerHost: option({
    env: 'DOCKER_HOST',
    placeholder: '<address>',
    help: 'Docker engine: unix:///path, /path or tcp://host:port.',
    schema: DockerHostSchema,
    parse: dockerHost,
    show: showDockerHost,
    default: { socketPath: '/var/run/docker.sock' },
    expected: `a valid address (${DOCKER_HOST_FORMS})`,
  }),
  logRetentionDays: option({
    flag: 'log-retention-days',
    env: 'ORCH_LOG_RETENTION_DAYS',
    placeholder: '<days>',
    help: 'Daily log files older than this many days are deleted.',
    schema: Type.Integer({ minimum: 1 }),
    parse: wholeNumber,
    default: 14,
    expected: 'a whole number of days (1 or more)',
  }),
  logFileMaxBytes: option({
    flag: 'log-file-max-bytes',
    env: 'ORCH_LOG_FILE_MAX_BYTES',
    placeholder: '<bytes>',
    help: 'Size cap of each daily log file (logs/ and debug/ each): at the cap the file says so in one line and takes no more lines that UTC day; stdout still gets them.',
    schema: Type.Integer({ minimum: 65_536 }),
    parse: wholeNumber,
    default: DEFAULT_LOG_FILE_MAX_BYTES,
    expected: 'a whole number of bytes (65536 or more)',
  }),
  restartBudget: option({
    flag: 'restart-budget',
    env: 'ORCH_RESTART_BUDGET',
    placeholder: '<crashes>/<seconds>',
    help:
      'A vPLC that crashes that many times within that many seconds goes to failed; ' +
      'earlier crashes are restarted with backoff (1 s doubling to 5 min).',
    schema: RestartBudgetSchema,
    parse: restartBudget,
    show: showRestartBudget,
    default: { max: 5, windowMs: 600_000 },
    expected: '<crashes>/<seconds> with at least 1 crash (e.g. 5/600)',
  }),
  parentInterfaces: option({
    flag: 'parent-interfaces',
    env: 'ORCH_PARENT_INTERFACES',
    placeholder: '<list>',
    help:
      'Host interfaces a vNIC may use as parent_interface, comma separated (e.g. eth0,eth1; a VLAN or bond only when ' +
      'listed); not set: the hardware network ports the network monitor sidecar reports.',
    schema: InterfaceListSchema,
    parse: interfaceList,
    show: showInterfaceList,
    default: null,
    expected: 'a list of interface names (e.g. eth0,eth1)',
  }),
  maxVplcs: option({
    flag: 'max-vplcs',
    env: 'ORCH_MAX_VPLCS',
    placeholder: '<count>',
    help: 'Most vPLCs this agent supervises; create_new_runtime beyond it is refused with a sentence naming this flag.',
    schema: Type.Integer({ minimum: 1, maximum: 4096 }),
    parse: wholeNumber,
    default: DEFAULT_MAX_VPLCS,
    expected: 'a whole number of vPLCs (1 to 4096)',
  }),
  internalSubnetPool: option({
    flag: 'internal-subnet-pool',
    env: 'ORCH_INTERNAL_SUBNET_POOL',
    placeholder: '<pool>',
    help:
      "Where each runtime's internal network takes its subnet: base=CIDR,size=PREFIX as dockerd writes address " +
      'pools, or a CIDR split into /28; subnets used by any Docker network or by a route or address of the host are skipped.',
    schema: SubnetPoolSchema,
    parse: subnetPool,
    show: showSubnetPool,
    default: DEFAULT_INTERNAL_SUBNET_POOL,
    expected: 'an address pool (e.g. base=172.31.0.0/16,size=28, or 10.203.0.0/20)',
  }),
  runCommand: {
    ports: option({
      flag: 'run-command-ports',
      env: 'ORCH_RUN_COMMAND_PORTS',
      placeholder: '<ports>',
      help: 'Runtime ports run_command may reach, comma separated (8443 is https, others http).',
      schema: PortsSchema,
      parse: ports,
      show: showPorts,
      default: [8443],
      expected: 'a list of TCP ports (1-65535, comma separated)',
    }),
    timeoutMs: option({
      flag: 'run-command-timeout',
      env: 'ORCH_RUN_COMMAND_TIMEOUT',
      placeholder: '<seconds>',
      help: 'Time limit of one run_command request to a runtime, in seconds.',
      schema: Type.Integer({ minimum: 1 }),
      parse: secondsAsMs,
      show: showMsAsSeconds,
      default: 30_000,
      expected: 'a positive number of seconds',
    }),
    maxBytes: option({
      flag: 'run-command-max-bytes',
      env: 'ORCH_RUN_COMMAND_MAX_BYTES',
      placeholder: '<bytes>',
      help: 'Largest run_command request or response body, in bytes.',
      schema: Type.Integer({ minimum: 1 }),
      parse: wholeNumber,
      default: 10_485_760,
      expected: 'a whole number of bytes (1 or more)',
    }),
    maxPerVplc: option({
      flag: 'run-command-max-per-vplc',
      env: 'ORCH_RUN_COMMAND_MAX_PER_VPLC',
      placeholder: '<requests>',
      help: 'run_command requests in flight to one vPLC at a time; more are refused (HTTP 429 in http_response) until one is answered.',
      schema: Type.Integer({ minimum: 1 }),
      parse: wholeNumber,
      default: 4,
      expected: 'a whole number of requests (1 or more)',
    }),
    maxConcurrent: option({
      flag: 'run-command-max-concurrent',
      env: 'ORCH_RUN_COMMAND_MAX_CONCURRENT',
      placeholder: '<requests>',
      help: 'run_command requests in flight to all vPLCs together; more are refused (HTTP 429 in http_response) until one is answered.',
      schema: Type.Integer({ minimum: 1 }),
      parse: wholeNumber,
      default: 16,
      expected: 'a whole number of requests (1 or more)',
    }),
  },
  debug: {
    iceServers: option({
      flag: 'webrtc-ice-servers',
      env: 'ORCH_WEBRTC_ICE_SERVERS',
      placeholder: '<urls>',
      help: "STUN or TURN servers of WebRTC debug sessions, comma separated (the old agent's Google STUN servers by default); none: host candidates only.",
      schema: IceServersSchema,
      parse: iceServers,
      show: showIceServers,
      default: ['stun:stun.l.google.com:19302', 'stun:stun1.l.google.com:19302'],
      expected: 'STUN/TURN URLs, comma separated, or none',
    }),
    hostAddresses: option({
      flag: 'webrtc-host-addresses',
      env: 'ORCH_WEBRTC_HOST_ADDRESSES',
      placeholder: '<addresses>',
      help: 'Local IPv4 addresses WebRTC debug sessions offer as host candidates, comma separated (127.0.0.1 included only when listed); not set: every address of the host.',
      schema: AddressListSchema,
      parse: ipv4List,
      show: showAddressList,
      default: null,
      expected: 'IPv4 addresses, comma separated',
    }),
    maxPerVplc: option({
      flag: 'debug-max-sessions-per-vplc',
      env: 'ORCH_DEBUG_MAX_SESSIONS_PER_VPLC',
      placeholder: '<sessions>',
      help: 'WebRTC debug sessions, and debug connections to its runtime, one vPLC may have at once; more are refused with a sentence naming this flag.',
      schema: Type.Integer({ minimum: 1 }),
      parse: wholeNumber,
      default: 4,
      expected: 'a whole number of sessions (1 or more)',
    }),
    maxSessions: option({
      flag: 'debug-max-sessions-per-host',
      env: 'ORCH_DEBUG_MAX_SESSIONS_PER_HOST',
      placeholder: '<sessions>',
      help: 'WebRTC debug sessions, and debug connections to runtimes, of all vPLCs together; more are refused with a sentence naming this flag.',
      schema: Type.Integer({ minimum: 1 }),
      parse: wholeNumber,
      default: 16,
      expected: 'a whole number of sessions (1 or more)',
    }),
  },
  inspect: option({
    flag: 'inspect',
    bare: DEFAULT_INSPECT_ADDRESS,
    env: 'ORCH_INSPECT',
    placeholder: '<host:port>',
    help:
      "Serve the inspector (every live actor, its machine diagram and state, the event log, each vPLC's timeline) on " +
      `this address; alone: ${DEFAULT_INSPECT_ADDRESS}. Only a loopback address unless --inspect-allow-remote and ` +
      'ORCH_INSPECT_TOKEN are given; port 0 takes a free port.',
    schema: ListenAddressSchema,
    parse: listenAddress,
    show: showListen,
    default: null,
    expected: 'host:port',
  }),
  inspectAllowRemote: option({
    flag: 'inspect-allow-remote',
    switch: true,
    env: 'ORCH_INSPECT_ALLOW_REMOTE',
    placeholder: 'on|off',
    help: 'Let --inspect listen on an address other machines reach; then every request must carry ORCH_INSPECT_TOKEN.',
    schema: Type.Boolean(),
    parse: onOff,
    show: (on) => (on ? 'on' : 'off'),
    default: false,
    expected: 'on or off',
  }),
  inspectToken: option({
    env: 'ORCH_INSPECT_TOKEN',
    placeholder: '<token>',
    help:
      'Secret a remote inspector demands (as ?token= once, then a cookie, or Authorization: Bearer); 16 characters or ' +
      'more. Never printed.',
    schema: Type.Union([Type.String({ minLength: 16, maxLength: 512 }), Type.Null()]),
    parse: (text) => text,
    show: () => '<set>',
    default: null,
    expected: 'a token of 16 to 512 characters',
  }),
  inspectForward: option({
    flag: 'inspect-forward',
    env: 'ORCH_INSPECT_FORWARD',
    placeholder: '<ws-url>',
    help: "Also send every inspection event to a WebSocket inspector of Stately's tools (@statelyai/inspect), e.g. ws://127.0.0.1:8080.",
    schema: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    parse: wsUrl,
    default: null,
    expected: 'a ws:// or wss:// URL',
  }),
  metrics: option({
    flag: 'metrics',
    bare: DEFAULT_METRICS_ADDRESS,
    env: 'ORCH_METRICS',
    placeholder: '<host:port>',
    help: `Serve /metrics in the Prometheus text format on this address; alone: ${DEFAULT_METRICS_ADDRESS}; port 0 takes a free port.`,
    schema: ListenAddressSchema,
    parse: listenAddress,
    show: showListen,
    default: null,
    expected: 'host:port',
  }),
  faultKillAt: option({
    env: 'ORCH_FAULT_KILL_AT',
    placeholder: '<operation>:<step>[@<vplc>]',
    help:
      'Test hook of the crash-recovery tests, never set in production: the agent SIGKILLs itself right after ' +
      'the journal durably recorded that step.',
    schema: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    parse: (text) => text,
    default: null,
    expected: 'a fault point',
  }),
  hostname: option({
    env: 'HOSTNAME',
    placeholder: '<name>',
    help: 'Set by Docker in a container (its short id): how the agent finds its own container when its mount table and cgroup do not name it.',
    schema: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    parse: (text) => text,
    default: null,
    expected: 'a host name',
  }),
};

export const ConfigSchema = schemaOf(OPTIONS);

/** Whether the agent runs in local mode, and why (printed at start, so the automatic choice is never a surprise). */
export interface LocalMode {
  enabled: boolean;
  reason: string;
}

/** The validated configuration, with the local-mode choice made. */
export type Config = Omit<Static<typeof ConfigSchema>, 'local'> & { local: LocalMode };

/** Every option in --help order, with its place in the config. */
export const CONFIG_OPTIONS: readonly ListedOption[] = listOptions(OPTIONS);

const ConfigCheck = Compile(ConfigSchema);

let cachedVersion: string | null = null;

/** The agent's version: `AGENT_VERSION` when the image stamps it, else package.json (src/version.ts). Read once. */
export function agentVersion(): string {
  cachedVersion ??= buildVersion(process.env);
  return cachedVersion;
}

export function usage(): string {
  return [
    `orchestrator-agent ${agentVersion()}: runs OpenPLC vPLCs for the Autonomy Edge Cloud.`,
    '',
    'Usage: orchestrator-agent [options]',
    '       orchestrator-agent ctl <shortcut or topic> [arguments]   drive a local-mode agent (see ctl --help)',
    '       orchestrator-agent doctor [options]                      check this host (see doctor --help)',
    '',
    'Every option can also be set by its environment variable; a flag wins over the variable.',
    'Flags take their value as "--flag value" or "--flag=value".',
    '',
    ...helpLines(CONFIG_OPTIONS),
    '  -h, --help',
    '      Print this text and exit.',
    '  --version',
    '      Print the version and exit.',
  ].join('\n');
}

/** The configuration table README.md shows (a unit test keeps the two equal). */
export function readmeTable(): string {
  return markdownTable(CONFIG_OPTIONS);
}

/**
 * Build the configuration from `argv` (without node and script, i.e. `process.argv.slice(2)`) and `env`.
 * Rejects with `ConfigError` (one line naming the flag, variable or file) or `ConfigInfoRequest` for --help/--version.
 */
export async function parseConfig(
  argv: string[],
  env: Record<string, string | undefined>,
  opts: ParseOptions = {},
): Promise<Config> {
  // Help wins wherever it stands, even in a command line that would not parse.
  if (argv.some((a) => a === '--help' || a === '-h')) throw new ConfigInfoRequest('help', usage());
  if (argv.includes('--version')) throw new ConfigInfoRequest('version', `orchestrator-agent ${agentVersion()}`);

  const { values, sources } = readOptions(CONFIG_OPTIONS, argv, env);

  // The one validation of the whole object; a failure is reported against the option whose value broke it.
  if (!ConfigCheck.Check(values)) {
    const first = ConfigCheck.Errors(values)[0];
    const pointer = first?.instancePath ?? '';
    const culprit = optionAt(CONFIG_OPTIONS, pointer);
    if (culprit === undefined) {
      throw new ConfigError(`configuration is inconsistent at ${pointer || '/'}: ${first?.message ?? 'invalid'}`);
    }
    throw refusal(culprit, sources.get(culprit), new ValueProblem());
  }

  const table = values as Static<typeof ConfigSchema>;
  refuseOpenInspector(table, sources.get(optionNamed('inspect'))?.label ?? '--inspect');
  const local = await chooseLocalMode(table.local, {
    cloudUrl: sources.get(optionNamed('cloudUrl'))?.label,
    mtlsDir: sources.get(optionNamed('mtlsDir'))?.label,
    certificateIn: table.mtlsDir,
    localFrom: sources.get(optionNamed('local'))?.label,
  });

  // Syntax first (above), then the file system, so a typo is reported before a missing certificate. Local mode
  // makes its own certificates: the cloud's are not needed then.
  const cloudFiles = new Set(['mtlsDir', 'caFile']);
  for (const option of opts.checkFiles === false ? [] : CONFIG_OPTIONS) {
    if (local.enabled && cloudFiles.has(option.path.join('.'))) continue;
    try {
      await option.check?.(valueAt(values, option.path));
    } catch (problem) {
      throw refusal(option, sources.get(option), problem);
    }
  }
  return { ...table, local };
}

export interface ParseOptions {
  /**
   * false: skip the checks of the file system (certificates readable). For doctor, which reports them as checks
   * of its own, and for ctl, which only needs to know the data folder.
   */
  checkFiles?: boolean;
}

/**
 * The inspector shows every vPLC, its errors and the events it is sent: beyond this host it needs both the switch
 * that says so and a token (docs/decisions.md#the-inspector-stays-on-this-host).
 */
function refuseOpenInspector(table: Static<typeof ConfigSchema>, label: string): void {
  const at = table.inspect;
  if (at === null || isLoopbackHost(at.host)) return;
  const where = showListenAddress(at);
  if (!table.inspectAllowRemote) {
    throw new ConfigError(
      `${label}: ${where} is not a loopback address; the inspector shows every vPLC and the events it is sent, so it ` +
        'listens beyond this host only with --inspect-allow-remote and a token in ORCH_INSPECT_TOKEN',
    );
  }
  if (table.inspectToken === null) {
    throw new ConfigError(
      `${label}: ${where} is reachable from other machines; set ORCH_INSPECT_TOKEN (16 characters or more) so that ` +
        'only those who have it see the inspector',
    );
  }
}

function optionNamed(path: string): ListedOption {
  const found = CONFIG_OPTIONS.find((o) => o.path.join('.') === path);
  if (!found) throw new Error(`no option ${path}`);
  return found;
}

/** Where the choice's inputs came from: the flag or variable that set each, undefined for a default. */
export interface LocalModeInputs {
  cloudUrl: string | undefined;
  mtlsDir: string | undefined;
  /** The mTLS folder in effect, looked into for client.crt. */
  certificateIn: string;
  localFrom: string | undefined;
}

/**
 * auto: local mode exactly when nothing points at the cloud — no cloud URL and no mTLS folder given, and no
 * client certificate where the installer puts it. Anything that names the cloud keeps the production path, with its
 * one-line refusal of missing certificates.
 */
export async function chooseLocalMode(
  choice: Static<typeof LocalChoiceSchema>,
  inputs: LocalModeInputs,
): Promise<LocalMode> {
  const given = inputs.localFrom ?? '--local';
  if (choice === 'on') return { enabled: true, reason: `${given} asks for it` };
  if (choice === 'off') return { enabled: false, reason: `${inputs.localFrom ?? '--no-local'} asks for the cloud` };
  if (inputs.cloudUrl !== undefined) return { enabled: false, reason: `${inputs.cloudUrl} names a cloud` };
  if (inputs.mtlsDir !== undefined) return { enabled: false, reason: `${inputs.mtlsDir} names the certificates` };
  const certificate = join(inputs.certificateIn, 'client.crt');
  const present = await access(certificate).then(
    () => true,
    () => false,
  );
  if (present) return { enabled: false, reason: `${certificate} is there` };
  return {
    enabled: true,
    reason: `no client certificate at ${certificate} and no --cloud-url (give --no-local to require the cloud)`,
  };
}

/** What to print at start: every setting, paths included, never file contents or credentials. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    version: agentVersion(),
    local: config.local.enabled,
    localReason: config.local.reason,
    cloudUrl: displayUrl(config.cloudUrl),
    mtlsDir: config.mtlsDir,
    caFile: config.caFile,
    cloudMaxMessageBytes: config.cloudMaxMessageBytes,
    dataDir: config.dataDir,
    logLevel: config.logLevel,
    runtimeImage: config.runtimeImage,
    upgradeAgentImage: config.upgradeAgentImage,
    upgradeNetmonImage: config.upgradeNetmonImage,
    upgradeConnectTimeoutSeconds: config.upgradeConnectTimeout / 1000,
    netmonSocket: config.netmonSocket,
    runtimeUlimits: showUlimits(config.runtimeUlimits),
    dockerHost: showDockerHost(config.dockerHost),
    logRetentionDays: config.logRetentionDays,
    logFileMaxBytes: config.logFileMaxBytes,
    restartBudget: `${config.restartBudget.max} restarts in ${config.restartBudget.windowMs / 1000} s`,
    parentInterfaces: showInterfaceList(config.parentInterfaces),
    maxVplcs: config.maxVplcs,
    internalSubnetPool: showSubnetPool(config.internalSubnetPool),
    runCommand: {
      ports: [...config.runCommand.ports],
      timeoutSeconds: config.runCommand.timeoutMs / 1000,
      maxBytes: config.runCommand.maxBytes,
      maxPerVplc: config.runCommand.maxPerVplc,
      maxConcurrent: config.runCommand.maxConcurrent,
    },
    debug: {
      iceServers: showIceServers(config.debug.iceServers),
      hostAddresses: showAddressList(config.debug.hostAddresses),
      maxPerVplc: config.debug.maxPerVplc,
      maxSessions: config.debug.maxSessions,
    },
    inspect: showListen(config.inspect),
    inspectAllowRemote: config.inspectAllowRemote,
    inspectToken: config.inspectToken === null ? null : '<set>',
    inspectForward: config.inspectForward === null ? null : displayUrl(config.inspectForward),
    metrics: showListen(config.metrics),
    faultKillAt: config.faultKillAt,
    hostname: config.hostname,
  };
}

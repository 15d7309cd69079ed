import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Type, { type Static } from 'typebox';
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
  LogLevelSchema,
  logLevel,
  PortsSchema,
  ports,
  RestartBudgetSchema,
  redactUrl,
  requireReadable,
  restartBudget,
  secondsAsMs,
  showDockerHost,
  showMsAsSeconds,
  showPorts,
  showInterfaceList,
  InterfaceListSchema,
  interfaceList,
  showRestartBudget,
  showSubnetPool,
  showUlimits,
  SubnetPoolSchema,
  subnetPool,
  UlimitSchema,
  ulimits,
  wholeNumber,
} from './config/parsers.js';

import { DEFAULT_INTERNAL_SUBNET_POOL, DEFAULT_MAX_VPLCS } from './model/vplc.js';

export { ConfigError, ConfigInfoRequest } from './config/option.js';
export type { DockerHost, LogLevel, Ulimit } from './config/parsers.js';

/**
 * The agent's one typed configuration: command-line flags, their environment equivalents and defaults (a flag wins
 * over its variable, a variable over the default). Installer, tests and the e2e harness drive the agent through
 * exactly these names, so the table below is the interface: --help, the README table and the schema come from it.
 */

const RUNTIME_IMAGE = 'ghcr.io/autonomy-logic/openplc-runtime:latest';

/** A path default as a user writes it; expanded when used, since the home folder differs per machine. */
const pathDefault = (text: string) => new Derived(text, () => expandPath(text));

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
  dataDir: option({
    flag: 'data-dir',
    env: 'ORCH_DATA_DIR',
    placeholder: '<dir>',
    help: 'Shared data folder: state files, logs/, debug/, DHCP leases.',
    schema: Type.String({ minLength: 1 }),
    parse: expandPath,
    default: '/var/orchestrator',
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
  },
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
export type Config = Static<typeof ConfigSchema>;

/** Every option in --help order, with its place in the config. */
export const CONFIG_OPTIONS: readonly ListedOption[] = listOptions(OPTIONS);

const ConfigCheck = Compile(ConfigSchema);

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
  return [
    `orchestrator-agent ${agentVersion()}: runs OpenPLC vPLCs for the Autonomy Edge Cloud.`,
    '',
    'Usage: orchestrator-agent [options]',
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
export async function parseConfig(argv: string[], env: Record<string, string | undefined>): Promise<Config> {
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

  // Syntax first (above), then the file system, so a typo is reported before a missing certificate.
  for (const option of CONFIG_OPTIONS) {
    try {
      await option.check?.(valueAt(values, option.path));
    } catch (problem) {
      throw refusal(option, sources.get(option), problem);
    }
  }
  return values;
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
    runtimeUlimits: showUlimits(config.runtimeUlimits),
    dockerHost: showDockerHost(config.dockerHost),
    logRetentionDays: config.logRetentionDays,
    restartBudget: `${config.restartBudget.max} restarts in ${config.restartBudget.windowMs / 1000} s`,
    parentInterfaces: showInterfaceList(config.parentInterfaces),
    maxVplcs: config.maxVplcs,
    internalSubnetPool: showSubnetPool(config.internalSubnetPool),
    runCommand: {
      ports: [...config.runCommand.ports],
      timeoutSeconds: config.runCommand.timeoutMs / 1000,
      maxBytes: config.runCommand.maxBytes,
    },
    faultKillAt: config.faultKillAt,
    hostname: config.hostname,
  };
}

import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONFIG_OPTIONS,
  type Config,
  ConfigError,
  ConfigInfoRequest,
  chooseLocalMode,
  defaultDataDir,
  describeConfig,
  parseConfig,
  readmeTable,
  usage,
} from '../../src/config.js';

let dir: string;
let mtls: string;
let ca: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'config-test-'));
  mtls = join(dir, 'mtls');
  await mkdir(mtls);
  await writeFile(join(mtls, 'client.crt'), '-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n');
  await writeFile(join(mtls, 'client.key'), '-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n');
  ca = join(dir, 'ca.pem');
  await writeFile(ca, '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Parse with a readable mTLS folder unless the test says otherwise. */
function parse(argv: string[], env: Record<string, string | undefined> = {}): Promise<Config> {
  return parseConfig(argv, { ORCH_MTLS_DIR: mtls, ...env });
}

async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a ConfigError');
}

describe('defaults', () => {
  it("gives the old agent's defaults when nothing is set", async () => {
    const config = await parse([]);
    expect(config).toEqual({
      cloudUrl: 'https://api.autonomylogic.com:3001',
      mtlsDir: mtls,
      caFile: null,
      local: { enabled: false, reason: 'ORCH_MTLS_DIR names the certificates' },
      cloudMaxMessageBytes: 37_748_736,
      dataDir: '/var/orchestrator',
      logLevel: 'info',
      runtimeImage: 'ghcr.io/autonomy-logic/openplc-runtime:latest',
      upgradeAgentImage: 'ghcr.io/autonomy-logic/orchestrator-agent:latest',
      upgradeNetmonImage: 'ghcr.io/autonomy-logic/autonomy-netmon:latest',
      upgradeConnectTimeout: 120_000,
      netmonSocket: '/var/orchestrator/netmon.sock',
      runtimeUlimits: [
        { name: 'rtprio', soft: 99, hard: 99 },
        { name: 'memlock', soft: -1, hard: -1 },
      ],
      dockerHost: { socketPath: '/var/run/docker.sock' },
      logRetentionDays: 14,
      logFileMaxBytes: 33_554_432,
      restartBudget: { max: 5, windowMs: 600_000 },
      parentInterfaces: null,
      maxVplcs: 64,
      internalSubnetPool: { base: '172.31.0.0/16', size: 28 },
      runCommand: { ports: [8443], timeoutMs: 30_000, maxBytes: 10_485_760, maxPerVplc: 4, maxConcurrent: 16 },
      debug: {
        iceServers: ['stun:stun.l.google.com:19302', 'stun:stun1.l.google.com:19302'],
        hostAddresses: null,
        maxPerVplc: 4,
        maxSessions: 16,
      },
      inspect: null,
      inspectAllowRemote: false,
      inspectToken: null,
      inspectForward: null,
      metrics: null,
      faultKillAt: null,
      hostname: null,
    } satisfies Config);
  });

  it('defaults the mTLS folder to ~/.mtls and, with --no-local, names it when the certificate is missing', async () => {
    // The test machine may or may not have ~/.mtls: either it parses to that folder or the error names it.
    const outcome = await parseConfig(['--no-local'], {}).then(
      (config) => config.mtlsDir,
      (err: Error) => err.message,
    );
    expect([
      join(homedir(), '.mtls'),
      `--mtls-dir: cannot read ${join(homedir(), '.mtls', 'client.crt')} (ENOENT)`,
      `--mtls-dir: cannot read ${join(homedir(), '.mtls', 'client.key')} (ENOENT)`,
    ]).toContain(outcome);
  });

  it('keeps the state in the per-user state folder when not run as root', () => {
    expect(defaultDataDir(0, '/home/ann')).toBe('/var/orchestrator');
    expect(defaultDataDir(1000, '/home/ann')).toBe('/home/ann/.local/state/orchestrator-agent');
  });
});

describe('local mode', () => {
  const empty = () => mkdtemp(join(tmpdir(), 'config-nocert-'));

  it('is chosen when nothing names the cloud and the mTLS folder holds no certificate', async () => {
    const home = await empty();
    const inputs = { cloudUrl: undefined, mtlsDir: undefined, certificateIn: home, localFrom: undefined };
    expect(await chooseLocalMode('auto', inputs)).toEqual({
      enabled: true,
      reason: `no client certificate at ${join(home, 'client.crt')} and no --cloud-url (give --no-local to require the cloud)`,
    });
    await writeFile(join(home, 'client.crt'), 'x');
    expect(await chooseLocalMode('auto', inputs)).toEqual({
      enabled: false,
      reason: `${join(home, 'client.crt')} is there`,
    });
    await rm(home, { recursive: true });
  });

  it('is not chosen when a cloud URL or a certificate folder is given', async () => {
    const home = await empty();
    const base = { cloudUrl: undefined, mtlsDir: undefined, certificateIn: home, localFrom: undefined };
    expect(await chooseLocalMode('auto', { ...base, cloudUrl: '--cloud-url' })).toMatchObject({ enabled: false });
    expect(await chooseLocalMode('auto', { ...base, mtlsDir: 'ORCH_MTLS_DIR' })).toEqual({
      enabled: false,
      reason: 'ORCH_MTLS_DIR names the certificates',
    });
    await rm(home, { recursive: true });
  });

  it('follows --local, --no-local and ORCH_LOCAL over the automatic choice', async () => {
    const local = await parse(['--local', '--cloud-url', 'https://cloud.test']);
    expect(local.local).toEqual({ enabled: true, reason: '--local asks for it' });
    expect((await parse(['--no-local'])).local).toEqual({ enabled: false, reason: '--no-local asks for the cloud' });
    expect((await parse([], { ORCH_LOCAL: 'yes' })).local.enabled).toBe(true);
    expect((await parse([], { ORCH_LOCAL: 'off' })).local.enabled).toBe(false);
    expect((await parse(['--no-local'], { ORCH_LOCAL: 'on' })).local.enabled).toBe(false);
    expect(await errorOf(parse(['--local=yes']))).toBe('--local takes no value (use --local or --no-local)');
    expect(await errorOf(parse([], { ORCH_LOCAL: 'maybe' }))).toBe('ORCH_LOCAL: "maybe" is not auto, on or off');
  });

  it('does not ask for the cloud certificates in local mode', async () => {
    const config = await parseConfig(['--local', '--mtls-dir', '/nonexistent'], {});
    expect(config.local.enabled).toBe(true);
    expect(await errorOf(parseConfig(['--mtls-dir', '/nonexistent'], {}))).toBe(
      '--mtls-dir: cannot read /nonexistent/client.crt (ENOENT)',
    );
  });

  it('skips every file check when asked to (doctor reports them itself)', async () => {
    const config = await parseConfig(['--no-local', '--mtls-dir', '/nonexistent'], {}, { checkFiles: false });
    expect(config.mtlsDir).toBe('/nonexistent');
  });
});

describe('defaults as --help and the README show them', () => {
  // mtlsDir (~/.mtls needs real certificates in the home folder) and netmonSocket (<data-dir>/… is a rule, not a
  // value) have derived defaults; the fault hook, the host name and the CA file default to none.
  // The data folder's default depends on who runs the agent; a switch has no value to type after its flag.
  const typeable = CONFIG_OPTIONS.filter(
    (o) => !['mtlsDir', 'netmonSocket', 'dataDir'].includes(o.path.join('.')) && !o.switch,
  );

  for (const option of typeable.filter((o) => o.default !== null)) {
    it(`gives the default of ${option.label} again when its shown default is typed in`, async () => {
      const text = usage().split('\n');
      const shown = text[text.findIndex((line) => line.includes(option.env)) + 2]!.replace(/^ *Default: /, '');
      const given = option.flag === undefined ? parse([], { [option.env]: shown }) : parse([`--${option.flag}`, shown]);
      // Naming the cloud's URL gives the same choice for another reason: compare the choice, not its wording.
      const choice = (c: Config) => ({ ...c, local: c.local.enabled });
      expect(choice(await given)).toEqual(choice(await parse([])));
    });
  }

  it('hands out a fresh copy of a default each time', async () => {
    const first = await parse([]);
    first.runtimeUlimits.pop();
    first.runCommand.ports.push(1);
    first.restartBudget.max = 99;
    const second = await parse([]);
    expect(second.runtimeUlimits).toHaveLength(2);
    expect(second.runCommand.ports).toEqual([8443]);
    expect(second.restartBudget.max).toBe(5);
  });
});

describe('each flag and its environment variable', () => {
  /** `value` is read as `want`; `other` is a different valid value, to show that the flag wins over the variable. */
  const cases: Array<{
    flag: string;
    env: string;
    value: string;
    other: string;
    expect: (c: Config) => unknown;
    want: unknown;
  }> = [
    {
      flag: '--cloud-url',
      env: 'ORCH_CLOUD_URL',
      value: 'https://cloud.test:8443',
      other: 'http://other.test',
      expect: (c) => c.cloudUrl,
      want: 'https://cloud.test:8443',
    },
    {
      flag: '--cloud-max-message-bytes',
      env: 'ORCH_CLOUD_MAX_MESSAGE_BYTES',
      value: '1048576',
      other: '67108864',
      expect: (c) => c.cloudMaxMessageBytes,
      want: 1_048_576,
    },
    {
      flag: '--data-dir',
      env: 'ORCH_DATA_DIR',
      value: '/srv/orch',
      other: '/srv/other',
      expect: (c) => c.dataDir,
      want: '/srv/orch',
    },
    {
      flag: '--log-level',
      env: 'ORCH_LOG_LEVEL',
      value: 'debug',
      other: 'trace',
      expect: (c) => c.logLevel,
      want: 'debug',
    },
    {
      flag: '--runtime-image',
      env: 'ORCH_RUNTIME_IMAGE',
      value: 'localhost:5000/openplc-runtime:v4.1',
      other: 'busybox',
      expect: (c) => c.runtimeImage,
      want: 'localhost:5000/openplc-runtime:v4.1',
    },
    {
      flag: '--upgrade-agent-image',
      env: 'ORCH_UPGRADE_AGENT_IMAGE',
      value: '127.0.0.1:5000/orchestrator-agent:next',
      other: 'busybox',
      expect: (c) => c.upgradeAgentImage,
      want: '127.0.0.1:5000/orchestrator-agent:next',
    },
    {
      flag: '--upgrade-netmon-image',
      env: 'ORCH_UPGRADE_NETMON_IMAGE',
      value: '127.0.0.1:5000/autonomy-netmon:next',
      other: 'busybox',
      expect: (c) => c.upgradeNetmonImage,
      want: '127.0.0.1:5000/autonomy-netmon:next',
    },
    {
      flag: '--upgrade-connect-timeout',
      env: 'ORCH_UPGRADE_CONNECT_TIMEOUT',
      value: '30',
      other: '60',
      expect: (c) => c.upgradeConnectTimeout,
      want: 30_000,
    },
    {
      flag: '--netmon-socket',
      env: 'ORCH_NETMON_SOCKET',
      value: '/run/netmon.sock',
      other: '/run/other.sock',
      expect: (c) => c.netmonSocket,
      want: '/run/netmon.sock',
    },
    {
      flag: '--runtime-ulimits',
      env: 'ORCH_RUNTIME_ULIMITS',
      value: 'nofile=1024:4096',
      other: 'none',
      expect: (c) => c.runtimeUlimits,
      want: [{ name: 'nofile', soft: 1024, hard: 4096 }],
    },
    {
      flag: '--log-retention-days',
      env: 'ORCH_LOG_RETENTION_DAYS',
      value: '3',
      other: '30',
      expect: (c) => c.logRetentionDays,
      want: 3,
    },
    {
      flag: '--restart-budget',
      env: 'ORCH_RESTART_BUDGET',
      value: '3/60',
      other: '1/1',
      expect: (c) => c.restartBudget,
      want: { max: 3, windowMs: 60_000 },
    },
    {
      flag: '--parent-interfaces',
      env: 'ORCH_PARENT_INTERFACES',
      value: 'eth0, eth1.100,eth0',
      other: 'bond0',
      expect: (c) => c.parentInterfaces,
      want: ['eth0', 'eth1.100'],
    },
    {
      flag: '--max-vplcs',
      env: 'ORCH_MAX_VPLCS',
      value: '12',
      other: '3',
      expect: (c) => c.maxVplcs,
      want: 12,
    },
    {
      flag: '--internal-subnet-pool',
      env: 'ORCH_INTERNAL_SUBNET_POOL',
      value: 'base=10.203.0.5/20,size=29',
      other: '10.204.0.0/24',
      expect: (c) => c.internalSubnetPool,
      want: { base: '10.203.0.0/20', size: 29 },
    },
    {
      flag: '--run-command-ports',
      env: 'ORCH_RUN_COMMAND_PORTS',
      value: '8443, 8080,8443',
      other: '9000',
      expect: (c) => c.runCommand.ports,
      want: [8443, 8080],
    },
    {
      flag: '--run-command-timeout',
      env: 'ORCH_RUN_COMMAND_TIMEOUT',
      value: '2.5',
      other: '7',
      expect: (c) => c.runCommand.timeoutMs,
      want: 2500,
    },
    {
      flag: '--run-command-max-bytes',
      env: 'ORCH_RUN_COMMAND_MAX_BYTES',
      value: '1024',
      other: '1',
      expect: (c) => c.runCommand.maxBytes,
      want: 1024,
    },
    {
      flag: '--log-file-max-bytes',
      env: 'ORCH_LOG_FILE_MAX_BYTES',
      value: '1048576',
      other: '65536',
      expect: (c) => c.logFileMaxBytes,
      want: 1_048_576,
    },
    {
      flag: '--run-command-max-per-vplc',
      env: 'ORCH_RUN_COMMAND_MAX_PER_VPLC',
      value: '2',
      other: '8',
      expect: (c) => c.runCommand.maxPerVplc,
      want: 2,
    },
    {
      flag: '--inspect',
      env: 'ORCH_INSPECT',
      value: '127.0.0.2:9000',
      other: '127.0.0.1:9001',
      expect: (c) => c.inspect,
      want: { host: '127.0.0.2', port: 9000 },
    },
    {
      flag: '--inspect-forward',
      env: 'ORCH_INSPECT_FORWARD',
      value: 'ws://127.0.0.1:8080',
      other: 'ws://127.0.0.1:8081',
      expect: (c) => c.inspectForward,
      want: 'ws://127.0.0.1:8080',
    },
    {
      flag: '--metrics',
      env: 'ORCH_METRICS',
      value: '[::1]:9100',
      other: '127.0.0.1:9101',
      expect: (c) => c.metrics,
      want: { host: '::1', port: 9100 },
    },
    {
      flag: '--run-command-max-concurrent',
      env: 'ORCH_RUN_COMMAND_MAX_CONCURRENT',
      value: '64',
      other: '1',
      expect: (c) => c.runCommand.maxConcurrent,
      want: 64,
    },
    {
      flag: '--webrtc-ice-servers',
      env: 'ORCH_WEBRTC_ICE_SERVERS',
      value: 'stun:stun.plant.example:3478,turn:turn.plant.example:3478',
      other: 'none',
      expect: (c) => c.debug.iceServers,
      want: ['stun:stun.plant.example:3478', 'turn:turn.plant.example:3478'],
    },
    {
      flag: '--webrtc-host-addresses',
      env: 'ORCH_WEBRTC_HOST_ADDRESSES',
      value: '127.0.0.1, 10.1.2.3',
      other: '192.168.1.1',
      expect: (c) => c.debug.hostAddresses,
      want: ['127.0.0.1', '10.1.2.3'],
    },
    {
      flag: '--debug-max-sessions-per-vplc',
      env: 'ORCH_DEBUG_MAX_SESSIONS_PER_VPLC',
      value: '2',
      other: '9',
      expect: (c) => c.debug.maxPerVplc,
      want: 2,
    },
    {
      flag: '--debug-max-sessions-per-host',
      env: 'ORCH_DEBUG_MAX_SESSIONS_PER_HOST',
      value: '40',
      other: '3',
      expect: (c) => c.debug.maxSessions,
      want: 40,
    },
  ];

  for (const c of cases) {
    it(`reads ${c.flag} as "--flag value", "--flag=value" and ${c.env}`, async () => {
      // A value equal to the default would not show that the flag or variable is read at all.
      expect(c.expect(await parse([]))).not.toEqual(c.want);
      expect(c.expect(await parse([c.flag, c.value]))).toEqual(c.want);
      expect(c.expect(await parse([`${c.flag}=${c.value}`]))).toEqual(c.want);
      expect(c.expect(await parse([], { [c.env]: c.value }))).toEqual(c.want);
    });

    it(`lets ${c.flag} win over ${c.env}`, async () => {
      expect(c.expect(await parse([], { [c.env]: c.other }))).not.toEqual(c.want);
      expect(c.expect(await parse([c.flag, c.value], { [c.env]: c.other }))).toEqual(c.want);
    });
  }

  it('reads --mtls-dir and ORCH_MTLS_DIR', async () => {
    expect((await parseConfig(['--mtls-dir', mtls], {})).mtlsDir).toBe(mtls);
    expect((await parseConfig([`--mtls-dir=${mtls}`], {})).mtlsDir).toBe(mtls);
    expect((await parseConfig([], { ORCH_MTLS_DIR: mtls })).mtlsDir).toBe(mtls);
  });

  it('reads --ca-file and ORCH_CA_FILE', async () => {
    expect((await parse(['--ca-file', ca])).caFile).toBe(ca);
    expect((await parse([`--ca-file=${ca}`])).caFile).toBe(ca);
    expect((await parse([], { ORCH_CA_FILE: ca })).caFile).toBe(ca);
  });

  it('has a case above for every option with a flag', () => {
    const covered = new Set([
      ...cases.map((c) => c.flag),
      '--mtls-dir',
      '--ca-file',
      '--local',
      '--inspect-allow-remote',
    ]);
    const flags = CONFIG_OPTIONS.flatMap((o) => (o.flag === undefined ? [] : [`--${o.flag}`]));
    expect(flags.filter((flag) => !covered.has(flag))).toEqual([]);
  });

  it('serves --inspect and --metrics on their loopback defaults when given alone, also before another flag', async () => {
    const alone = await parse(['--inspect', '--metrics']);
    expect(alone.inspect).toEqual({ host: '127.0.0.1', port: 8642 });
    expect(alone.metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    const before = await parse(['--inspect', '--local', '--metrics', ':0']);
    expect(before.inspect).toEqual({ host: '127.0.0.1', port: 8642 });
    expect(before.local.enabled).toBe(true);
    expect(before.metrics).toEqual({ host: '127.0.0.1', port: 0 });
    expect(await errorOf(parse(['--inspect', 'nowhere']))).toBe(
      '--inspect: "nowhere" is not host:port (e.g. 127.0.0.1:8642)',
    );
    expect(await errorOf(parse(['--metrics', '127.0.0.1:70000']))).toBe(
      '--metrics: "127.0.0.1:70000": port 70000 is above 65535',
    );
    expect(await errorOf(parse(['--inspect-forward', 'http://x']))).toBe(
      '--inspect-forward: "http://x" is not a ws:// or wss:// URL',
    );
  });

  it('refuses an inspector on a non-loopback address without --inspect-allow-remote and a token', async () => {
    expect(await errorOf(parse(['--inspect', '0.0.0.0:8642']))).toBe(
      '--inspect: 0.0.0.0:8642 is not a loopback address; the inspector shows every vPLC and the events it is sent, ' +
        'so it listens beyond this host only with --inspect-allow-remote and a token in ORCH_INSPECT_TOKEN',
    );
    expect(await errorOf(parse([], { ORCH_INSPECT: '[::]:8642' }))).toMatch(
      /^ORCH_INSPECT: \[::\]:8642 is not a loopback/,
    );
    expect(await errorOf(parse(['--inspect', '10.0.0.5:8642', '--inspect-allow-remote']))).toBe(
      '--inspect: 10.0.0.5:8642 is reachable from other machines; set ORCH_INSPECT_TOKEN (16 characters or more) so ' +
        'that only those who have it see the inspector',
    );
    expect(await errorOf(parse(['--inspect-allow-remote'], { ORCH_INSPECT_TOKEN: 'short' }))).toBe(
      'ORCH_INSPECT_TOKEN: "short" is not a token of 16 to 512 characters',
    );
    const open = await parse(['--inspect', '0.0.0.0:8642', '--inspect-allow-remote'], {
      ORCH_INSPECT_TOKEN: 'a-token-of-some-length',
    });
    expect(open.inspect).toEqual({ host: '0.0.0.0', port: 8642 });
    expect(JSON.stringify(describeConfig(open))).not.toContain('a-token-of-some-length');
    // Loopback in every spelling needs neither.
    for (const host of ['127.0.0.1', '127.9.9.9', 'localhost', '[::1]']) {
      expect((await parse(['--inspect', `${host}:1`])).inspect?.port).toBe(1);
    }
  });

  it('accepts -l as the short form of --log-level', async () => {
    expect((await parse(['-l', 'WARNING'])).logLevel).toBe('warn');
    expect((await parse(['-l=trace'])).logLevel).toBe('trace');
  });

  it('documents every option in the table printed by --help', () => {
    const text = usage();
    for (const option of CONFIG_OPTIONS) {
      expect(text).toContain(option.env);
      if (option.flag !== undefined) expect(text).toContain(`--${option.flag}`);
    }
    expect(text).toContain(
      [
        '  -l, --log-level <level>   [ORCH_LOG_LEVEL]',
        "      fatal, error, warn, info, debug or trace (the Python agent's DEBUG, INFO, WARNING, ERROR, CRITICAL also accepted, any case).",
        '      Default: info',
        '  --runtime-image <image>   [ORCH_RUNTIME_IMAGE]',
      ].join('\n'),
    );
    expect(text).toContain('  (environment only) DOCKER_HOST=<address>\n');
    expect(text).toContain('      Default: <data-dir>/netmon.sock\n');
    expect(text).toContain('      Default: 5/600\n');
    expect(CONFIG_OPTIONS.map((o) => o.env)).toEqual([
      'ORCH_CLOUD_URL',
      'ORCH_MTLS_DIR',
      'ORCH_CA_FILE',
      'ORCH_LOCAL',
      'ORCH_CLOUD_MAX_MESSAGE_BYTES',
      'ORCH_DATA_DIR',
      'ORCH_LOG_LEVEL',
      'ORCH_RUNTIME_IMAGE',
      'ORCH_UPGRADE_AGENT_IMAGE',
      'ORCH_UPGRADE_NETMON_IMAGE',
      'ORCH_UPGRADE_CONNECT_TIMEOUT',
      'ORCH_NETMON_SOCKET',
      'ORCH_RUNTIME_ULIMITS',
      'DOCKER_HOST',
      'ORCH_LOG_RETENTION_DAYS',
      'ORCH_LOG_FILE_MAX_BYTES',
      'ORCH_RESTART_BUDGET',
      'ORCH_PARENT_INTERFACES',
      'ORCH_MAX_VPLCS',
      'ORCH_INTERNAL_SUBNET_POOL',
      'ORCH_RUN_COMMAND_PORTS',
      'ORCH_RUN_COMMAND_TIMEOUT',
      'ORCH_RUN_COMMAND_MAX_BYTES',
      'ORCH_RUN_COMMAND_MAX_PER_VPLC',
      'ORCH_RUN_COMMAND_MAX_CONCURRENT',
      'ORCH_WEBRTC_ICE_SERVERS',
      'ORCH_WEBRTC_HOST_ADDRESSES',
      'ORCH_DEBUG_MAX_SESSIONS_PER_VPLC',
      'ORCH_DEBUG_MAX_SESSIONS_PER_HOST',
      'ORCH_INSPECT',
      'ORCH_INSPECT_ALLOW_REMOTE',
      'ORCH_INSPECT_TOKEN',
      'ORCH_INSPECT_FORWARD',
      'ORCH_METRICS',
      'ORCH_FAULT_KILL_AT',
      'HOSTNAME',
    ]);
  });

  it('reads a pool of internal subnets as a CIDR of /28s or as dockerd writes pools, and refuses one that cannot work', async () => {
    expect((await parse(['--internal-subnet-pool', '10.203.0.0/22'])).internalSubnetPool).toEqual({
      base: '10.203.0.0/22',
      size: 28,
    });
    expect(await errorOf(parse(['--internal-subnet-pool', '10.203.0.0']))).toMatch(
      /^--internal-subnet-pool: .*is not an IPv4 network like 172\.31\.0\.0\/16/,
    );
    expect(await errorOf(parse(['--internal-subnet-pool', 'base=10.203.0.0/16,size=30']))).toMatch(
      /size 30 must be 16 to 29/,
    );
    expect(await errorOf(parse(['--internal-subnet-pool', '10.203.0.0/30']))).toMatch(/smaller than one \/28 subnet/);
    expect(await errorOf(parse(['--internal-subnet-pool', 'base=10.0.0.0/16,bits=28']))).toMatch(
      /"bits=28" is neither base=<cidr> nor size=<prefix>/,
    );
  });

  it('refuses a parent interface list with a name the kernel would not take', async () => {
    expect(await errorOf(parse(['--parent-interfaces', 'eth0,eth/1']))).toMatch(
      /^--parent-interfaces: "eth\/1" is not an interface name/,
    );
    expect(await errorOf(parse(['--parent-interfaces', 'a-very-long-interface']))).toMatch(/is not an interface name/);
  });

  it('refuses a cap on vPLCs that is not a count of at least one', async () => {
    expect(await errorOf(parse(['--max-vplcs', '0']))).toMatch(/^--max-vplcs: /);
    expect(await errorOf(parse(['--max-vplcs', 'lots']))).toMatch(/^--max-vplcs: .*a whole number of vPLCs/);
  });

  it('reads the fault hook and the host name from the environment only, as written', async () => {
    const config = await parse([], { ORCH_FAULT_KILL_AT: 'create:networks@t9-c1', HOSTNAME: ' 3f2a1b0c9d8e ' });
    expect(config.faultKillAt).toBe('create:networks@t9-c1');
    expect(config.hostname).toBe('3f2a1b0c9d8e');
    expect(await errorOf(parse(['--fault-kill-at', 'create:networks']))).toBe(
      'unknown flag --fault-kill-at (see --help)',
    );
    expect(await errorOf(parse(['--hostname', 'x']))).toBe('unknown flag --hostname (see --help)');
  });
});

describe('precedence and derived values', () => {
  it('lets a flag win over its environment variable', async () => {
    const config = await parse(['--log-level', 'error', '--data-dir=/flag'], {
      ORCH_LOG_LEVEL: 'debug',
      ORCH_DATA_DIR: '/env',
    });
    expect(config.logLevel).toBe('error');
    expect(config.dataDir).toBe('/flag');
  });

  it('uses the last of a repeated flag', async () => {
    expect((await parse(['-l', 'debug', '--log-level', 'error'])).logLevel).toBe('error');
  });

  it('treats an empty environment variable as unset', async () => {
    const config = await parse([], { ORCH_CLOUD_URL: '', ORCH_CA_FILE: '  ', DOCKER_HOST: '' });
    expect(config.cloudUrl).toBe('https://api.autonomylogic.com:3001');
    expect(config.caFile).toBeNull();
    expect(config.dockerHost).toEqual({ socketPath: '/var/run/docker.sock' });
  });

  it('puts the netmon socket in the data folder unless set', async () => {
    expect((await parse(['--data-dir', '/data'])).netmonSocket).toBe('/data/netmon.sock');
    expect((await parse(['--data-dir', '/data', '--netmon-socket', '/x.sock'])).netmonSocket).toBe('/x.sock');
  });

  it('expands ~ to the home folder and resolves relative paths', async () => {
    const config = await parse(['--data-dir', '~/orch', '--netmon-socket', '~']);
    expect(config.dataDir).toBe(join(homedir(), 'orch'));
    expect(config.netmonSocket).toBe(homedir());
    expect((await parse(['--data-dir', 'rel'])).dataDir).toBe(join(process.cwd(), 'rel'));
  });
});

describe('log levels', () => {
  const table: Array<[string, Config['logLevel']]> = [
    ['DEBUG', 'debug'],
    ['INFO', 'info'],
    ['WARNING', 'warn'],
    ['ERROR', 'error'],
    ['CRITICAL', 'fatal'],
    ['Warning', 'warn'],
    ['critical', 'fatal'],
    ['fatal', 'fatal'],
    ['TRACE', 'trace'],
    ['warn', 'warn'],
  ];
  for (const [text, level] of table) {
    it(`maps ${text} to ${level}`, async () => {
      expect((await parse(['--log-level', text])).logLevel).toBe(level);
    });
  }
});

describe('runtime ulimits', () => {
  it('sets no ulimits for none, in any case', async () => {
    expect((await parse(['--runtime-ulimits', 'none'])).runtimeUlimits).toEqual([]);
    expect((await parse([], { ORCH_RUNTIME_ULIMITS: 'NONE' })).runtimeUlimits).toEqual([]);
  });

  it('parses name=value, name=soft:hard and unlimited', async () => {
    expect((await parse(['--runtime-ulimits', 'rtprio=50, memlock=unlimited,nofile=1024:-1'])).runtimeUlimits).toEqual([
      { name: 'rtprio', soft: 50, hard: 50 },
      { name: 'memlock', soft: -1, hard: -1 },
      { name: 'nofile', soft: 1024, hard: -1 },
    ]);
  });
});

describe('DOCKER_HOST', () => {
  const table: Array<[string, Config['dockerHost']]> = [
    ['unix:///run/docker.sock', { socketPath: '/run/docker.sock' }],
    ['/opt/docker26/docker.sock', { socketPath: '/opt/docker26/docker.sock' }],
    ['tcp://10.0.0.5:2376', { host: '10.0.0.5', port: 2376 }],
    ['tcp://docker.local', { host: 'docker.local', port: 2375 }],
    ['tcp://[::1]:2375', { host: '::1', port: 2375 }],
  ];
  for (const [value, want] of table) {
    it(`understands ${value}`, async () => {
      expect((await parse([], { DOCKER_HOST: value })).dockerHost).toEqual(want);
    });
  }
});

describe('error lines', () => {
  const table: Array<[string, string[], Record<string, string>, string]> = [
    ['a non-http cloud URL', ['--cloud-url', 'ftp://x'], {}, '--cloud-url: "ftp://x" is not an http(s) URL'],
    ['garbage as cloud URL', ['--cloud-url=nonsense'], {}, '--cloud-url: "nonsense" is not an http(s) URL'],
    [
      'a bad URL from the environment',
      [],
      { ORCH_CLOUD_URL: 'ws://x' },
      'ORCH_CLOUD_URL: "ws://x" is not an http(s) URL',
    ],
    ['a cloud URL without a host', ['--cloud-url', 'https://'], {}, '--cloud-url: "https://" is not an http(s) URL'],
    ['an unknown flag', ['--foo'], {}, 'unknown flag --foo (see --help)'],
    ['an unknown short flag', ['-x'], {}, 'unknown flag -x (see --help)'],
    ['a short flag glued to its value', ['-ldebug'], {}, 'unknown flag -ldebug (see --help)'],
    ['grouped short flags', ['-hl', 'debug'], {}, 'unknown flag -hl (see --help)'],
    ['a value given to --help', ['--help=1'], {}, 'unknown flag --help (see --help)'],
    [
      'a flag for DOCKER_HOST, which only the environment sets',
      ['--docker-host', '/x'],
      {},
      'unknown flag --docker-host (see --help)',
    ],
    ['the end-of-options marker', ['--', 'x'], {}, 'unknown flag -- (see --help)'],
    ['a lone dash', ['-'], {}, 'unexpected argument "-" (see --help)'],
    ['an unknown flag with a value', ['--foo=bar'], {}, 'unknown flag --foo (see --help)'],
    ['a stray argument', ['serve'], {}, 'unexpected argument "serve" (see --help)'],
    ['a flag without value at the end', ['--data-dir'], {}, '--data-dir: missing value'],
    ['a flag followed by another flag', ['--data-dir', '--log-level', 'info'], {}, '--data-dir: missing value'],
    ['a flag followed by a short flag', ['--data-dir', '-l', 'info'], {}, '--data-dir: missing value'],
    ['a short flag without value', ['-l'], {}, '--log-level: missing value'],
    ['an empty value', ['--runtime-image='], {}, '--runtime-image: empty value'],
    ['a blank value', ['--cloud-url', '  '], {}, '--cloud-url: empty value'],
    ['an empty short value', ['-l='], {}, '--log-level: empty value'],
    [
      'an unknown log level',
      ['-l', 'verbose'],
      {},
      '--log-level: "verbose" is not a log level (use fatal, error, warn, info, debug, trace or DEBUG, INFO, WARNING, ERROR, CRITICAL)',
    ],
    [
      'an image with spaces',
      ['--runtime-image', 'open plc'],
      {},
      '--runtime-image: "open plc" is not an image reference (e.g. ghcr.io/autonomy-logic/openplc-runtime:latest)',
    ],
    [
      'an image with capitals from the environment',
      [],
      { ORCH_RUNTIME_IMAGE: 'OpenPLC' },
      'ORCH_RUNTIME_IMAGE: "OpenPLC" is not an image reference (e.g. ghcr.io/autonomy-logic/openplc-runtime:latest)',
    ],
    [
      'a name that only an object lookup would know as a log level',
      ['-l', 'constructor'],
      {},
      '--log-level: "constructor" is not a log level (use fatal, error, warn, info, debug, trace or DEBUG, INFO, WARNING, ERROR, CRITICAL)',
    ],
    [
      'a malformed ulimit',
      ['--runtime-ulimits', 'rtprio'],
      {},
      '--runtime-ulimits: "rtprio" is not name=value or name=soft:hard (e.g. rtprio=99,memlock=-1, or none)',
    ],
    [
      'an unknown ulimit',
      ['--runtime-ulimits', 'foo=1'],
      {},
      '--runtime-ulimits: "foo" is not a ulimit Docker knows (core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)',
    ],
    [
      'a non-numeric ulimit',
      [],
      { ORCH_RUNTIME_ULIMITS: 'rtprio=high' },
      'ORCH_RUNTIME_ULIMITS: "rtprio=high" needs whole numbers, -1 or unlimited as its limits',
    ],
    [
      'a soft limit above the hard limit',
      ['--runtime-ulimits', 'nofile=10:5'],
      {},
      '--runtime-ulimits: "nofile=10:5" has a soft limit above its hard limit',
    ],
    [
      'an unlimited soft limit under a finite hard limit',
      ['--runtime-ulimits', 'nofile=unlimited:5'],
      {},
      '--runtime-ulimits: "nofile=unlimited:5" has a soft limit above its hard limit',
    ],
    [
      'a ulimit with an empty hard limit',
      ['--runtime-ulimits', 'rtprio=1:'],
      {},
      '--runtime-ulimits: "rtprio=1:" is not name=value or name=soft:hard (e.g. rtprio=99,memlock=-1, or none)',
    ],
    [
      'a ulimit beyond whole-number range',
      ['--runtime-ulimits', 'rtprio=99999999999999999999'],
      {},
      '--runtime-ulimits: "rtprio=99999999999999999999" needs whole numbers, -1 or unlimited as its limits',
    ],
    ['a repeated ulimit', ['--runtime-ulimits', 'nofile=1,nofile=2'], {}, '--runtime-ulimits: nofile is given twice'],
    [
      'an ssh DOCKER_HOST',
      [],
      { DOCKER_HOST: 'ssh://me@host' },
      'DOCKER_HOST: "ssh://me@host" is not supported (use unix:///path/to/docker.sock, /path/to/docker.sock or tcp://host:port)',
    ],
    [
      'a relative unix socket',
      [],
      { DOCKER_HOST: 'unix://docker.sock' },
      'DOCKER_HOST: "unix://docker.sock" needs an absolute socket path (use unix:///path/to/docker.sock, /path/to/docker.sock or tcp://host:port)',
    ],
    [
      'a tcp address with a path',
      [],
      { DOCKER_HOST: 'tcp://host:2375/v1' },
      'DOCKER_HOST: "tcp://host:2375/v1" is not a valid address (use unix:///path/to/docker.sock, /path/to/docker.sock or tcp://host:port)',
    ],
    [
      'a tcp address with a user',
      [],
      { DOCKER_HOST: 'tcp://me@host:2375' },
      'DOCKER_HOST: "tcp://me@host:2375" is not a valid address (use unix:///path/to/docker.sock, /path/to/docker.sock or tcp://host:port)',
    ],
    [
      'a tcp port out of range',
      [],
      { DOCKER_HOST: 'tcp://host:99999' },
      'DOCKER_HOST: "tcp://host:99999" is not a valid address (use unix:///path/to/docker.sock, /path/to/docker.sock or tcp://host:port)',
    ],
    [
      'a tcp port of 0',
      [],
      { DOCKER_HOST: 'tcp://host:0' },
      'DOCKER_HOST: "tcp://host:0" is not a valid address (use unix:///path/to/docker.sock, /path/to/docker.sock or tcp://host:port)',
    ],
    [
      'a zero retention',
      ['--log-retention-days', '0'],
      {},
      '--log-retention-days: "0" is not a whole number of days (1 or more)',
    ],
    [
      'a zero retention from the environment',
      [],
      { ORCH_LOG_RETENTION_DAYS: '0' },
      'ORCH_LOG_RETENTION_DAYS: "0" is not a whole number of days (1 or more)',
    ],
    [
      'a fractional retention',
      [],
      { ORCH_LOG_RETENTION_DAYS: '1.5' },
      'ORCH_LOG_RETENTION_DAYS: "1.5" is not a whole number of days (1 or more)',
    ],
    [
      'a malformed restart budget',
      ['--restart-budget', '5'],
      {},
      '--restart-budget: "5" is not <crashes>/<seconds> with at least 1 crash (e.g. 5/600)',
    ],
    [
      'a restart budget with an empty window',
      ['--restart-budget', '5/0'],
      {},
      '--restart-budget: "5/0" is not <crashes>/<seconds> with at least 1 crash (e.g. 5/600)',
    ],
    [
      'a restart budget of zero crashes',
      ['--restart-budget', '0/600'],
      {},
      '--restart-budget: "0/600" is not <crashes>/<seconds> with at least 1 crash (e.g. 5/600)',
    ],
    [
      'a restart window too long to count in milliseconds',
      ['--restart-budget', '5/99999999999999999'],
      {},
      '--restart-budget: "5/99999999999999999" is not <crashes>/<seconds> with at least 1 crash (e.g. 5/600)',
    ],
    [
      'a port out of range',
      ['--run-command-ports', '8443,70000'],
      {},
      '--run-command-ports: "70000" is not a TCP port (1-65535; list them comma separated)',
    ],
    [
      'an empty port in the list',
      ['--run-command-ports', '8443,'],
      {},
      '--run-command-ports: "" is not a TCP port (1-65535; list them comma separated)',
    ],
    [
      'a negative timeout',
      ['--run-command-timeout', '-1'],
      {},
      '--run-command-timeout: "-1" is not a positive number of seconds',
    ],
    [
      'a zero timeout',
      [],
      { ORCH_RUN_COMMAND_TIMEOUT: '0' },
      'ORCH_RUN_COMMAND_TIMEOUT: "0" is not a positive number of seconds',
    ],
    [
      'a timeout that rounds to 0 ms',
      ['--run-command-timeout', '0.0001'],
      {},
      '--run-command-timeout: "0.0001" is not a positive number of seconds',
    ],
    [
      'a zero size',
      ['--run-command-max-bytes=0'],
      {},
      '--run-command-max-bytes: "0" is not a whole number of bytes (1 or more)',
    ],
    [
      'a size with a unit',
      ['--run-command-max-bytes', '10MB'],
      {},
      '--run-command-max-bytes: "10MB" is not a whole number of bytes (1 or more)',
    ],
  ];
  for (const [what, argv, env, message] of table) {
    it(`reports ${what} in one line`, async () => {
      expect(await errorOf(parse(argv, env))).toBe(message);
    });
  }

  it('names the mTLS folder and the missing file', async () => {
    expect(await errorOf(parseConfig(['--mtls-dir', '/x'], {}))).toBe('--mtls-dir: cannot read /x/client.crt (ENOENT)');
    expect(await errorOf(parseConfig([], { ORCH_MTLS_DIR: '/x' }))).toBe(
      'ORCH_MTLS_DIR: cannot read /x/client.crt (ENOENT)',
    );
  });

  it('names the missing key when only the certificate is there', async () => {
    const half = join(dir, 'half');
    await mkdir(half);
    await writeFile(join(half, 'client.crt'), 'x');
    expect(await errorOf(parseConfig(['--mtls-dir', half], {}))).toBe(
      `--mtls-dir: cannot read ${join(half, 'client.key')} (ENOENT)`,
    );
  });

  it('names an unreadable key', async () => {
    if (process.getuid?.() === 0) return; // root reads everything; the ENOENT cases above cover the path
    const locked = join(dir, 'locked');
    await mkdir(locked);
    await writeFile(join(locked, 'client.crt'), 'x');
    await writeFile(join(locked, 'client.key'), 'x');
    await chmod(join(locked, 'client.key'), 0o000);
    expect(await errorOf(parseConfig(['--mtls-dir', locked], {}))).toBe(
      `--mtls-dir: cannot read ${join(locked, 'client.key')} (EACCES)`,
    );
  });

  it('names a missing CA file', async () => {
    expect(await errorOf(parse(['--ca-file', '/nope/ca.pem']))).toBe('--ca-file: cannot read /nope/ca.pem (ENOENT)');
    expect(await errorOf(parse([], { ORCH_CA_FILE: '/nope/ca.pem' }))).toBe(
      'ORCH_CA_FILE: cannot read /nope/ca.pem (ENOENT)',
    );
  });

  it('reports a syntax error before a missing certificate', async () => {
    expect(await errorOf(parseConfig(['--mtls-dir', '/x', '-l', 'loud'], {}))).toMatch(/^--log-level: /);
  });
});

describe('--help and --version', () => {
  it('asks to print usage for --help and -h, even beside other flags', async () => {
    for (const argv of [['--help'], ['-h'], ['--foo', '--help']]) {
      const err = await parse(argv).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigInfoRequest);
      expect((err as ConfigInfoRequest).kind).toBe('help');
      expect((err as ConfigInfoRequest).text).toBe(usage());
    }
  });

  it('asks to print the package version for --version', async () => {
    const err = await parse(['--version']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigInfoRequest);
    expect((err as ConfigInfoRequest).kind).toBe('version');
    expect((err as ConfigInfoRequest).text).toMatch(/^orchestrator-agent \d+\.\d+\.\d+/);
  });
});

describe('describeConfig', () => {
  it('shows paths and settings but never file contents or URL credentials', async () => {
    const config = await parse(['--ca-file', ca, '--cloud-url', 'https://user:pw@cloud.test'], {
      DOCKER_HOST: 'tcp://[::1]:2375',
      ORCH_RUNTIME_ULIMITS: 'nofile=1:2,rtprio=9',
    });
    const described = describeConfig(config);
    const text = JSON.stringify(described);
    expect(text).not.toContain('BEGIN');
    expect(text).not.toContain('secret');
    expect(text).not.toContain('pw');
    expect(described).toMatchObject({
      mtlsDir: mtls,
      caFile: ca,
      dockerHost: 'tcp://[::1]:2375',
      runtimeUlimits: 'nofile=1:2,rtprio=9',
      restartBudget: '5 restarts in 600 s',
      runCommand: { ports: [8443], timeoutSeconds: 30, maxBytes: 10_485_760 },
    });
  });
});

describe('README.md', () => {
  /** The lines of the table that starts with the configuration table's header row. */
  function configurationTable(readme: string): string {
    const lines = readme.split('\n');
    const start = lines.findIndex((line) => line.startsWith('| flag | env | default |'));
    if (start === -1) return '(no configuration table in README.md)';
    const end = lines.findIndex((line, i) => i > start && !line.startsWith('|'));
    return lines.slice(start, end === -1 ? undefined : end).join('\n');
  }

  it('shows the configuration table rendered from the option table', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    expect(configurationTable(readme), 'README.md must show the table readmeTable() renders').toBe(readmeTable());
  });
});

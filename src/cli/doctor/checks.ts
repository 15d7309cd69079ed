import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../config.js';
import { showDockerHost, showUlimits } from '../../config/parsers.js';
import { CloudConnector } from '../../io/cloud/connection.js';
import { loadClientIdentity } from '../../io/cloud/identity.js';
import type { EngineAddress } from '../../io/docker/engine.js';
import { EngineError } from '../../io/docker/errors.js';
import { type EngineFacts, engineFacts, imagePresent, probeUlimits } from '../../io/docker/probe.js';
import {
  candidateParents,
  certificateFacts,
  fileMode,
  folderFacts,
  freeBytes,
  interfaceFacts,
  processAlive,
  serverDate,
  unixSocketFacts,
} from '../../io/host/probes.js';
import { connectCtl } from '../../io/local/ctlClient.js';
import { LOCAL_INFO_EVENT } from '../../io/local/endpoint.js';
import { readEndpointFile } from '../../io/local/endpointFile.js';
import { localLayout } from '../../io/pki/localPki.js';
import { errorText } from '../../model/errors.js';

/**
 * doctor's checks: each looks at one real part of the host the agent depends on and says, in one line, what it
 * found and what to do about it. A check fails only for what stops the agent (or a vPLC) from working; what
 * merely limits it is a warning.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to do, for warn and fail. */
  fix?: string;
}

export interface DoctorContext {
  config: Config;
  /** Interfaces to check as MACVLAN parents besides those the vPLCs use. */
  parents: string[];
  now: Date;
  /** How the tool was started, for commands in fix hints. */
  command: string;
  /** Thresholds (bytes, seconds) the tests may lower. */
  limits?: Partial<Limits>;
}

export interface Limits {
  diskFailBytes: number;
  diskWarnBytes: number;
  skewWarnSeconds: number;
  skewFailSeconds: number;
  certificateWarnDays: number;
}

const DEFAULT_LIMITS: Limits = {
  diskFailBytes: 512 * 2 ** 20,
  diskWarnBytes: 2 * 2 ** 30,
  skewWarnSeconds: 30,
  skewFailSeconds: 300,
  certificateWarnDays: 14,
};

const DAY_MS = 86_400_000;
const ok = (check: string, detail: string): CheckResult => ({ check, status: 'ok', detail });
const warn = (check: string, detail: string, fix: string): CheckResult => ({ check, status: 'warn', detail, fix });
const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, status: 'fail', detail, fix });
const skip = (check: string, detail: string): CheckResult => ({ check, status: 'skip', detail });

function address(config: Config): EngineAddress {
  return 'socketPath' in config.dockerHost
    ? { socketPath: config.dockerHost.socketPath }
    : { host: config.dockerHost.host, port: config.dockerHost.port };
}

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.round(bytes / 2 ** 20)} MiB`;
}

function apiAtLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

export async function checkDocker(ctx: DoctorContext): Promise<{ result: CheckResult; facts: EngineFacts | null }> {
  const where = showDockerHost(ctx.config.dockerHost);
  try {
    const facts = await engineFacts(address(ctx.config));
    const what = `Docker ${facts.version} (API ${facts.apiVersion}) answers at ${where}`;
    if (!apiAtLeast(facts.apiVersion, 1, 41)) {
      return {
        facts,
        result: warn(
          'docker',
          `${what}, older than API 1.41, the oldest engine this agent is tested with`,
          'upgrade Docker to 20.10 or newer',
        ),
      };
    }
    return { facts, result: ok('docker', what) };
  } catch (err) {
    const why = err instanceof EngineError ? (err.engineMessage ?? err.message) : errorText(err);
    return {
      facts: null,
      result: fail(
        'docker',
        `no Docker engine answers at ${where} (${why})`,
        'start dockerd (e.g. "systemctl start docker"), or point DOCKER_HOST at its socket',
      ),
    };
  }
}

/** The parent interfaces the vPLCs of this host use, from runtime_vnics.json. */
async function parentsInUse(dataDir: string): Promise<string[]> {
  try {
    const records = JSON.parse(await readFile(join(dataDir, 'runtime_vnics.json'), 'utf8')) as Record<
      string,
      Array<{ parent_interface?: unknown }>
    >;
    return Object.values(records)
      .flat()
      .map((v) => v?.parent_interface)
      .filter((p): p is string => typeof p === 'string' && p !== '');
  } catch {
    return [];
  }
}

export async function checkParents(ctx: DoctorContext): Promise<CheckResult[]> {
  const names = [...new Set([...ctx.parents, ...(await parentsInUse(ctx.config.dataDir))])];
  if (names.length === 0) {
    const candidates = await candidateParents();
    return [
      skip(
        'macvlan',
        `no vPLC uses a parent interface yet; interfaces that are up here: ${candidates.join(', ') || 'none'} ` +
          '(check one with --parent IF)',
      ),
    ];
  }
  const results: CheckResult[] = [];
  for (const name of names) {
    const facts = await interfaceFacts(name);
    if (!facts.exists) {
      const candidates = await candidateParents();
      results.push(
        fail(
          'macvlan',
          `parent interface ${name} does not exist on this host`,
          `give the vPLC one that does${candidates.length ? ` (up here: ${candidates.join(', ')})` : ''}, or plug in the adapter`,
        ),
      );
    } else if (!facts.up) {
      results.push(fail('macvlan', `parent interface ${name} is down`, `bring it up: ip link set ${name} up`));
    } else if (facts.wireless) {
      results.push(
        warn(
          'macvlan',
          `parent interface ${name} is wireless: most WiFi drivers do not carry MACVLAN traffic`,
          'use a wired interface for vPLC networks',
        ),
      );
    } else {
      results.push(ok('macvlan', `parent interface ${name} is up`));
    }
  }
  return results;
}

export async function checkSidecar(ctx: DoctorContext): Promise<CheckResult> {
  const path = ctx.config.netmonSocket;
  const facts = await unixSocketFacts(path);
  const start = `start it: node dist/sidecar/src/main.js --socket ${path} --data-dir ${ctx.config.dataDir}`;
  if (facts.kind === 'answers') return ok('sidecar', `the network-monitor sidecar answers at ${path}`);
  const limits = 'DHCP vNICs, subnet moves, serial passthrough and host interface lists need it';
  if (facts.kind === 'missing') return warn('sidecar', `no sidecar socket at ${path}: ${limits}`, start);
  return warn('sidecar', `nothing answers at ${path} (${facts.code}): ${limits}`, start);
}

async function readText(path: string): Promise<string | NodeJS.ErrnoException> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
}

/** One certificate with its key: present, readable, valid now and for a while, named, its key private. */
async function certificatePair(
  ctx: DoctorContext,
  label: string,
  certFile: string,
  keyFile: string,
  fixMissing: string,
): Promise<CheckResult> {
  const limits = { ...DEFAULT_LIMITS, ...ctx.limits };
  const cert = await readText(certFile);
  if (typeof cert !== 'string') {
    return cert.code === 'ENOENT'
      ? fail('certificates', `${label}: ${certFile} is missing`, fixMissing)
      : fail('certificates', `${label}: cannot read ${certFile} (${cert.code})`, "run as the agent's user");
  }
  const key = await readText(keyFile);
  if (typeof key !== 'string') {
    return fail(
      'certificates',
      `${label}: cannot read its key ${keyFile} (${key.code})`,
      key.code === 'ENOENT' ? fixMissing : "run as the agent's user",
    );
  }
  let facts: ReturnType<typeof certificateFacts>;
  try {
    facts = certificateFacts(cert, key);
  } catch (err) {
    return fail('certificates', `${label}: ${certFile} is not a PEM certificate (${errorText(err)})`, fixMissing);
  }
  const name = facts.commonName ? `CN ${facts.commonName}` : 'no CN';
  if (facts.keyMatches === false) {
    return fail('certificates', `${label}: ${keyFile} is not the key of ${certFile}`, fixMissing);
  }
  if (facts.notAfter.getTime() <= ctx.now.getTime()) {
    return fail(
      'certificates',
      `${label}: ${certFile} (${name}) expired on ${facts.notAfter.toISOString()}`,
      fixMissing,
    );
  }
  if (facts.notBefore.getTime() > ctx.now.getTime()) {
    return fail(
      'certificates',
      `${label}: ${certFile} (${name}) is valid only from ${facts.notBefore.toISOString()}`,
      "check this host's clock (see the clock check)",
    );
  }
  const days = Math.floor((facts.notAfter.getTime() - ctx.now.getTime()) / DAY_MS);
  const mode = await fileMode(keyFile);
  if (mode !== null && (mode & 0o077) !== 0) {
    return warn(
      'certificates',
      `${label}: ${keyFile} can be read by other users (mode ${mode.toString(8)})`,
      `chmod 600 ${keyFile}`,
    );
  }
  if (!facts.commonName) {
    return warn('certificates', `${label}: ${certFile} has no CN: the agent reports its id as UNKNOWN`, fixMissing);
  }
  if (days < limits.certificateWarnDays) {
    return warn('certificates', `${label}: ${certFile} (${name}) expires in ${days} days`, fixMissing);
  }
  return ok('certificates', `${label}: ${certFile} (${name}) valid until ${facts.notAfter.toISOString().slice(0, 10)}`);
}

export async function checkCertificates(ctx: DoctorContext): Promise<CheckResult[]> {
  const { config } = ctx;
  if (config.local.enabled) {
    const layout = localLayout(config.dataDir);
    const present = await fileMode(layout.caFile);
    if (present === null) {
      return [skip('certificates', `local mode: the local CA is made at the first start under ${layout.dir}`)];
    }
    const renew = `delete ${layout.dir} and start the agent again: it makes new local certificates`;
    return [
      await certificatePair(ctx, 'local CA', layout.caFile, layout.caKeyFile, renew),
      await certificatePair(
        ctx,
        'local agent',
        join(layout.agentMtlsDir, 'client.crt'),
        join(layout.agentMtlsDir, 'client.key'),
        renew,
      ),
    ];
  }
  const enrol = 'run the installer again to enrol this host, or give --mtls-dir the folder that holds client.crt';
  const results = [
    await certificatePair(
      ctx,
      'cloud client',
      join(config.mtlsDir, 'client.crt'),
      join(config.mtlsDir, 'client.key'),
      enrol,
    ),
  ];
  if (config.caFile !== null && (await fileMode(config.caFile)) === null) {
    results.push(fail('certificates', `cannot read the CA bundle ${config.caFile}`, 'fix --ca-file'));
  }
  return results;
}

export async function checkCloud(ctx: DoctorContext): Promise<{ result: CheckResult; identityOk: boolean }> {
  const { config } = ctx;
  if (config.local.enabled) {
    const file = localLayout(config.dataDir).endpointFile;
    let endpoint: Awaited<ReturnType<typeof readEndpointFile>>;
    try {
      endpoint = await readEndpointFile(file);
    } catch {
      return {
        identityOk: false,
        result: skip('cloud', `local mode: no agent is running on ${config.dataDir} (start it: npm start)`),
      };
    }
    if (!processAlive(endpoint.pid)) {
      return {
        identityOk: false,
        result: skip(
          'cloud',
          `local mode: no agent is running on ${config.dataDir} (pid ${endpoint.pid}, which wrote ${file}, has ended; start it: npm start)`,
        ),
      };
    }
    try {
      const [cert, key, ca] = await Promise.all(
        [endpoint.cert_file, endpoint.key_file, endpoint.ca_file].map((f) => readFile(f, 'utf8')),
      );
      const conn = await connectCtl({ url: endpoint.url, cert: cert!, key: key!, ca: ca! });
      try {
        const info = (await conn.request(LOCAL_INFO_EVENT, {}, 5_000)) as { agent_connected?: boolean };
        return info.agent_connected
          ? {
              identityOk: true,
              result: ok('cloud', `local mode: the endpoint at ${endpoint.url} answers, agent connected`),
            }
          : {
              identityOk: true,
              result: warn(
                'cloud',
                `local mode: the endpoint at ${endpoint.url} answers but the agent is not connected to it`,
                'read the agent log; it connects within seconds of starting',
              ),
            };
      } finally {
        conn.close();
      }
    } catch (err) {
      return {
        identityOk: false,
        result: fail(
          'cloud',
          `local mode: ${file} names ${endpoint.url}, which does not answer (${errorText(err)})`,
          'start the agent again (npm start)',
        ),
      };
    }
  }
  let identity: Awaited<ReturnType<typeof loadClientIdentity>>;
  try {
    identity = await loadClientIdentity(config.mtlsDir, config.caFile);
  } catch (err) {
    return { identityOk: false, result: skip('cloud', `not tried: ${errorText(err)}`) };
  }
  const silent = { info() {}, debug() {}, warn() {}, error() {} } as unknown as ConstructorParameters<
    typeof CloudConnector
  >[0]['log'];
  try {
    const session = await new CloudConnector({
      url: config.cloudUrl,
      identity,
      log: silent,
      connectTimeoutMs: 10_000,
    }).connect();
    session.close();
    return {
      identityOk: true,
      result: ok('cloud', `${config.cloudUrl} accepts this host's certificate (${identity.agentId})`),
    };
  } catch (err) {
    return {
      identityOk: false,
      result: fail(
        'cloud',
        errorText(err),
        'check the network path to the cloud (DNS, firewall, proxy) and that this host is enrolled',
      ),
    };
  }
}

export async function checkClock(ctx: DoctorContext, cloudAnswered: boolean): Promise<CheckResult> {
  const limits = { ...DEFAULT_LIMITS, ...ctx.limits };
  const { config } = ctx;
  if (config.local.enabled) return skip('clock', 'local mode: the endpoint runs on this clock; nothing to compare');
  if (!cloudAnswered) return skip('clock', 'not compared: the cloud did not answer');
  try {
    const identity = await loadClientIdentity(config.mtlsDir, config.caFile);
    const { server, local } = await serverDate(config.cloudUrl, identity);
    // The Date header has whole seconds: a skew under a second is not measurable.
    const skew = Math.round((local.getTime() - server.getTime()) / 1000);
    const words = `this host's clock is ${Math.abs(skew)} s ${skew >= 0 ? 'ahead of' : 'behind'} the cloud's`;
    const fix = 'synchronise the clock (e.g. "timedatectl set-ntp true", or chrony / systemd-timesyncd)';
    if (Math.abs(skew) > limits.skewFailSeconds) {
      return fail('clock', `${words}: certificates and timestamps are judged wrongly`, fix);
    }
    if (Math.abs(skew) > limits.skewWarnSeconds) return warn('clock', words, fix);
    return ok('clock', `${words} (within ${limits.skewWarnSeconds} s)`);
  } catch (err) {
    return skip('clock', `not compared: ${errorText(err)}`);
  }
}

export async function checkDisk(ctx: DoctorContext, docker: EngineFacts | null): Promise<CheckResult[]> {
  const limits = { ...DEFAULT_LIMITS, ...ctx.limits };
  const places: Array<[string, string]> = [['data folder', ctx.config.dataDir]];
  // Docker's root is a path on the engine's host: only meaningful when the engine is local.
  if (docker?.rootDir && 'socketPath' in ctx.config.dockerHost) places.push(["Docker's images", docker.rootDir]);
  const results: CheckResult[] = [];
  for (const [what, path] of places) {
    try {
      const { path: at, free, total } = await freeBytes(path);
      const detail = `${what}: ${gib(free)} free of ${gib(total)} at ${at}`;
      const fix = 'free some space (old images: docker image prune; old logs in <data-dir>/logs)';
      if (free < limits.diskFailBytes)
        results.push(fail('disk', `${detail}, too little for runtime images and state`, fix));
      else if (free < limits.diskWarnBytes) results.push(warn('disk', `${detail}, running low`, fix));
      else results.push(ok('disk', detail));
    } catch (err) {
      results.push(skip('disk', `${what}: cannot read ${path} (${errorText(err)})`));
    }
  }
  return results;
}

export async function checkDataDir(ctx: DoctorContext): Promise<CheckResult> {
  const dir = ctx.config.dataDir;
  const facts = await folderFacts(dir);
  if (facts.kind === 'not_a_folder') {
    return fail('data-dir', `${dir} is not a folder`, 'move the file away, or give --data-dir another folder');
  }
  if (facts.kind === 'missing') {
    return facts.creatableIn
      ? ok('data-dir', `${dir} does not exist yet; the agent makes it (${facts.creatableIn} is writable)`)
      : fail(
          'data-dir',
          `${dir} does not exist and cannot be made (${facts.problem})`,
          "create it for the agent's user, or give --data-dir another folder",
        );
  }
  if (!facts.writable) {
    return fail(
      'data-dir',
      `${dir} is not writable (${facts.problem})`,
      "give the agent's user write access, or give --data-dir a writable folder",
    );
  }
  if ((facts.mode & 0o002) !== 0) {
    return warn('data-dir', `${dir} is writable by every user (mode ${facts.mode.toString(8)})`, `chmod o-w ${dir}`);
  }
  const local = localLayout(dir).dir;
  const localMode = await fileMode(local);
  if (localMode !== null && (localMode & 0o077) !== 0) {
    return warn(
      'data-dir',
      `${local} (local keys) is open to other users (mode ${localMode.toString(8)})`,
      `chmod 700 ${local}`,
    );
  }
  return ok('data-dir', `${dir} is writable`);
}

export async function checkRlimits(ctx: DoctorContext, docker: EngineFacts | null): Promise<CheckResult> {
  const { config } = ctx;
  const asked = showUlimits(config.runtimeUlimits);
  if (config.runtimeUlimits.length === 0) return ok('rlimits', 'no runtime ulimits asked for (--runtime-ulimits none)');
  if (!docker) return skip('rlimits', `not tried (${asked}): no Docker engine answers`);
  const engine = address(config);
  try {
    if (!(await imagePresent(engine, config.runtimeImage))) {
      return skip(
        'rlimits',
        `not tried (${asked}): ${config.runtimeImage} is not on this engine yet (pulled at the first create)`,
      );
    }
    const probe = await probeUlimits(
      engine,
      config.runtimeImage,
      config.runtimeUlimits,
      `orchestrator-doctor-${process.pid}`,
    );
    if (probe.granted) return ok('rlimits', `the engine grants the runtime ulimits ${asked}`);
    return fail(
      'rlimits',
      `the engine refuses the runtime ulimits ${asked}: ${probe.engineMessage}`,
      "start with --runtime-ulimits none (or lower values), or raise dockerd's own limits (LimitRTPRIO=infinity, LimitMEMLOCK=infinity in its service)",
    );
  } catch (err) {
    return skip('rlimits', `not tried (${asked}): ${errorText(err)}`);
  }
}

export async function runChecks(ctx: DoctorContext): Promise<CheckResult[]> {
  const docker = await checkDocker(ctx);
  const [parents, sidecar, certificates, cloud, disk, dataDir, rlimits] = await Promise.all([
    checkParents(ctx),
    checkSidecar(ctx),
    checkCertificates(ctx),
    checkCloud(ctx),
    checkDisk(ctx, docker.facts),
    checkDataDir(ctx),
    checkRlimits(ctx, docker.facts),
  ]);
  const clock = await checkClock(ctx, cloud.identityOk);
  return [docker.result, ...parents, sidecar, ...certificates, cloud.result, clock, ...disk, dataDir, rlimits];
}

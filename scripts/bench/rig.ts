/**
 * The real parts the agent benchmarks run on: a test PKI, the HTTPS Socket.IO test cloud with client-certificate
 * verification, the built agent as its own process on this host's dockerd, veth parents for MACVLAN vNICs, and the
 * bare Socket.IO process that is the transport floor. Everything a benchmark makes is named `i12-...` / `i12...` and
 * removed again, also after a failure.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type AgentProcess, agentArgs, startAgentProcess } from '../../test/support/agentProcess.js';
import { makeTestPki, type TestPki } from '../../test/support/certs.js';
import { startTestCloud, type TestCloud } from '../../test/support/cloudServer.js';
import { ensureStandinImage } from '../../test/support/runtimeImage.js';
import { sleep, waitFor } from '../../test/support/wait.js';

const sh = promisify(execFile);
const DOCKER = '/usr/bin/docker';
const root = new URL('../..', import.meta.url).pathname;

/** Prefix of every container, network, veth and netns the benchmarks make (shared machine: never touch others'). */
export const PREFIX = 'i12';
/** Internal networks come from a pool of the benchmarks' own, away from the default pool other agents use. */
const INTERNAL_POOL = 'base=10.212.0.0/16,size=28';

export type Reply = Record<string, unknown>;

// The test cloud listens for a disconnect per request in flight; 50 in flight is the load, not a leak.
EventEmitter.defaultMaxListeners = 1000;

let correlation = 1_000_000;
/**
 * A correlation_id never used before in this process: the agent answers a repeated mutating request (same id, same
 * payload) from its replay cache without acting, so a second delete of a re-created vPLC needs an id of its own.
 */
export const nextCorrelationId = (): number => correlation++;

export interface Rig {
  pki: TestPki;
  cloud: TestCloud;
  image: string;
  /** The veth end the vPLCs' MACVLAN networks sit on. */
  parent: string;
  /** `10.<subnetOctet>.0.0/24`, the vNICs' subnet. */
  subnet: string;
  vnic(ip: number): Reply;
  close(): Promise<void>;
}

export async function openRig(opts: { parent: string; subnetOctet: number }): Promise<Rig> {
  const image = await ensureStandinImage();
  const peer = `${opts.parent}q`;
  await sh('ip', ['link', 'del', opts.parent]).catch(() => {});
  await sh('ip', ['link', 'add', opts.parent, 'type', 'veth', 'peer', 'name', peer]);
  await sh('ip', ['link', 'set', opts.parent, 'up']);
  await sh('ip', ['link', 'set', peer, 'up']);
  const pki = await makeTestPki();
  const cloud = await startTestCloud({ pki });
  const subnet = `10.${opts.subnetOctet}.0.0/24`;
  return {
    pki,
    cloud,
    image,
    parent: opts.parent,
    subnet,
    vnic: (ip) => ({
      name: 'eth0',
      parent_interface: opts.parent,
      network_mode: 'static',
      ip: `10.${opts.subnetOctet}.0.${ip}`,
      subnet,
      gateway: `10.${opts.subnetOctet}.0.1`,
    }),
    async close() {
      await removeLeftovers();
      await cloud.close();
      await pki.cleanup();
      await sh('ip', ['link', 'del', opts.parent]).catch(() => {});
    },
  };
}

export interface RunningAgent {
  proc: AgentProcess;
  pid: number;
  /** `Date.now()` just before the process was spawned (the test cloud records events in the same clock). */
  spawnedAt: number;
}

/** The built agent against the rig's cloud; `dataDir` reuses a previous run's state (a restart). */
export async function startAgent(
  rig: Rig,
  opts: { dataDir?: string; extraArgs?: string[]; env?: Record<string, string> } = {},
): Promise<RunningAgent> {
  const spawnedAt = Date.now();
  const proc = await startAgentProcess(
    [
      ...agentArgs({ cloudUrl: rig.cloud.url, pki: rig.pki, image: rig.image, parentInterfaces: [rig.parent] }),
      '--internal-subnet-pool',
      INTERNAL_POOL,
      '--max-vplcs',
      '200',
      ...(opts.extraArgs ?? []),
    ],
    { ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock', ...opts.env },
    opts.dataDir === undefined ? {} : { dataDir: opts.dataDir },
  );
  const pid = proc.child.pid;
  if (pid === undefined) throw new Error(`the agent did not start: ${proc.output()}`);
  return { proc, pid, spawnedAt };
}

export async function ask(cloud: TestCloud, topic: string, payload: Reply, timeoutMs = 30_000): Promise<Reply> {
  return (await cloud.request(topic, payload, timeoutMs)) as Reply;
}

/** Resident set size of a process, from the kernel (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

export const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

/** RSS sampled every `everyMs` for `forMs`; the median is what the benchmarks report (one sample can be a GC peak). */
export async function rssSamples(pid: number, forMs: number, everyMs = 500): Promise<number[]> {
  const samples: number[] = [];
  const end = performance.now() + forMs;
  while (performance.now() < end) {
    samples.push(await rssBytes(pid));
    await sleep(everyMs);
  }
  return samples;
}

/** Milliseconds from the create's ack until get_device_status says running (polled every 20 ms). */
export async function createAndWait(rig: Rig, name: string, ip: number): Promise<number> {
  const reply = await ask(rig.cloud, 'create_new_runtime', {
    correlation_id: nextCorrelationId(),
    container_name: name,
    vnic_configs: [rig.vnic(ip)],
  });
  if (reply.status !== 'creating') throw new Error(`create ${name} was refused: ${JSON.stringify(reply)}`);
  const acked = performance.now();
  await waitRunning(rig, name);
  return performance.now() - acked;
}

export async function waitRunning(rig: Rig, name: string, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    async () => {
      const s = await ask(rig.cloud, 'get_device_status', { correlation_id: 0, device_id: name });
      if (s.state === 'failed' || s.status === 'error') throw new Error(`${name} failed: ${String(s.error)}`);
      return s.state === 'running';
    },
    { timeoutMs, intervalMs: 20, message: `${name} running` },
  );
}

/** Deletes through the agent (so its records agree), then waits for each to be gone. */
export async function deleteAll(rig: Rig, names: readonly string[]): Promise<void> {
  for (const name of names) {
    await ask(rig.cloud, 'delete_device', { correlation_id: nextCorrelationId(), device_id: name });
  }
  for (const name of names) {
    await waitFor(
      async () =>
        (await ask(rig.cloud, 'get_device_status', { correlation_id: 0, device_id: name })).status === 'not_found',
      { timeoutMs: 120_000, intervalMs: 100, message: `${name} deleted` },
    );
  }
}

/** Removes every container and network the benchmarks may have left (names start with the prefix). */
export async function removeLeftovers(): Promise<void> {
  const list = async (args: string[]) =>
    (await sh(DOCKER, args).catch(() => ({ stdout: '' }))).stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith(`${PREFIX}-`) || l.startsWith(`macvlan_${PREFIX}`));
  const containers = await list(['ps', '-a', '--format', '{{.Names}}']);
  if (containers.length > 0) await sh(DOCKER, ['rm', '-f', ...containers]).catch(() => {});
  const networks = await list(['network', 'ls', '--format', '{{.Name}}']);
  if (networks.length > 0) await sh(DOCKER, ['network', 'rm', ...networks]).catch(() => {});
}

export interface BareAgent {
  child: ChildProcess;
  pid: number;
  /** `Date.now()` just before the process was spawned. */
  spawnedAt: number;
  stop(): Promise<void>;
}

/** The bare Socket.IO process (scripts/bench/bare-agent.mjs) on the rig's cloud, with the agent's certificate. */
export function startBareAgent(rig: Rig): BareAgent {
  const spawnedAt = Date.now();
  const child = spawn(
    process.execPath,
    [
      join(root, 'scripts/bench/bare-agent.mjs'),
      rig.cloud.url,
      join(rig.pki.mtlsDir, 'client.crt'),
      join(rig.pki.mtlsDir, 'client.key'),
      rig.pki.caFile,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], cwd: root },
  );
  if (child.pid === undefined) throw new Error('the bare Socket.IO process did not start');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    pid: child.pid,
    spawnedAt,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A bare Node process doing nothing (an interval keeps it alive): the floor of resident memory. */
export async function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await sleep(1500);
    return Math.round((await rssSamples(child.pid as number, 2000, 250)).sort((a, b) => a - b)[4] ?? 0);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * Acked requests from the cloud to whichever agent is connected: `inFlight` at a time for `forMs`. Returns each
 * request's round trip (ms) and the rate.
 */
export async function ackLoad(
  cloud: TestCloud,
  topic: string,
  payload: Reply,
  opts: { inFlight: number; forMs: number },
): Promise<{ count: number; perSecond: number; latenciesMs: number[] }> {
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + opts.forMs;
  let correlation = 1;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await cloud.request(topic, { ...payload, correlation_id: correlation++ }, 30_000);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: opts.inFlight }, worker));
  const elapsed = performance.now() - started;
  return {
    count: latencies.length,
    perSecond: Math.round((latencies.length / elapsed) * 1000),
    latenciesMs: latencies,
  };
}

/** Periods between consecutive heartbeats recorded from index `from` on, in seconds. */
export function heartbeatPeriods(cloud: TestCloud, from: number): number[] {
  const beats = cloud.heartbeats.slice(from);
  const periods: number[] = [];
  for (let i = 1; i < beats.length; i++) periods.push((beats[i]!.at - beats[i - 1]!.at) / 1000);
  return periods;
}

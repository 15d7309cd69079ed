/**
 * DHCP clients for runtime vNICs: one busybox `udhcpc` per `<container>:<vnic>`, run inside the runtime's network
 * namespace with `nsenter -t <pid> -n` (the sidecar shares the host PID namespace), on the interface that carries
 * the vNIC's MAC.
 *
 * Fixes over the old sidecar: the client's output is always read (a full pipe froze renewals); the lease comes back
 * on that output with the right prefix and DNS (the old hook turned a /24 into a /2); a new runtime PID replaces the
 * client and a client whose runtime is gone waits for one instead of restarting forever with a stale PID (which could
 * name a process in another container); the interface lookup retries with timers instead of blocking.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type LeaseReport, parseLeaseLine } from './lease.js';
import { linkByMac, sameMac } from './mac.js';
import { notARuntimeContainer, refusedTarget } from './targets.js';
import { type DhcpClientState, type DhcpClientStatus, type DhcpUpdateEvent, dhcpKey } from './protocol.js';
import { backoffMs } from '../../src/model/backoff.js';

const LOOKUP_COMMAND_TIMEOUT_MS = 3000;
/** udhcpc prints `started` at once; a client silent this long is taken as running and watched from then on. */
const START_CONFIRM_MS = 3000;
const TERM_GRACE_MS = 5000;
const KILL_GRACE_MS = 2000;
/** A client that ran this long before exiting is restarted quickly again: it was not crash-looping. */
const STABLE_RUN_MS = 60_000;
const RECENT_OUTPUT_LINES = 20;

export type DhcpResult = { success: true; message: string } | { success: false; error: string };

export interface StartDhcpRequest {
  containerName: string;
  vnicName: string;
  macAddress: string;
  containerPid: number;
}

export interface DhcpManagerOptions {
  log: Logger;
  /** Where the hook writes `<container>_<vnic>.lease` (docs/protocol.md#dhcp-lease-files). */
  leaseDir: string;
  hookPath: string;
  onLease(update: DhcpUpdateEvent['data']): void;
  nsenterCommand?: string;
  /** The DHCP client command, before its options. */
  udhcpcCommand?: readonly string[];
  ipCommand?: string;
  procRoot?: string;
  lookupAttempts?: number;
  lookupIntervalMs?: number;
  restartMinMs?: number;
  restartMaxMs?: number;
}

interface DhcpClient {
  readonly key: string;
  readonly containerName: string;
  readonly vnicName: string;
  readonly macAddress: string;
  readonly containerPid: number;
  /** `net:[inode]` of the runtime's namespace when we started: tells a restarted runtime from a reused PID. */
  readonly netns: string;
  ifname: string;
  state: DhcpClientState;
  child: ChildProcess | undefined;
  spawnedAt: number;
  restarts: number;
  failures: number;
  lastIp: string | null;
  lastError: string | null;
  lastReported: string | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  stopping: boolean;
  recentOutput: string[];
  confirmStarted: (() => void) | undefined;
}

export class DhcpManager {
  private readonly clients = new Map<string, DhcpClient>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly nsenter: string;
  private readonly udhcpc: readonly string[];
  private readonly ip: string;
  private readonly procRoot: string;
  private readonly lookupAttempts: number;
  private readonly lookupIntervalMs: number;
  private readonly restartMinMs: number;
  private readonly restartMaxMs: number;
  private shuttingDown = false;

  constructor(private readonly options: DhcpManagerOptions) {
    this.nsenter = options.nsenterCommand ?? 'nsenter';
    this.udhcpc = options.udhcpcCommand ?? ['busybox', 'udhcpc'];
    this.ip = options.ipCommand ?? 'ip';
    this.procRoot = options.procRoot ?? '/proc';
    this.lookupAttempts = options.lookupAttempts ?? 10;
    this.lookupIntervalMs = options.lookupIntervalMs ?? 300;
    this.restartMinMs = options.restartMinMs ?? 1000;
    this.restartMaxMs = options.restartMaxMs ?? 60_000;
  }

  start(request: StartDhcpRequest): Promise<DhcpResult> {
    const key = dhcpKey(request.containerName, request.vnicName);
    return this.withLock(key, async () => {
      if (this.shuttingDown) return fail('The network monitor is shutting down; send start_dhcp again once it is back');
      const existing = this.clients.get(key);
      if (
        existing &&
        existing.state !== 'waiting_for_container' &&
        existing.containerPid === request.containerPid &&
        sameMac(existing.macAddress, request.macAddress)
      ) {
        return { success: true, message: 'DHCP client already running' };
      }
      // Checked before a running client is replaced: a bad request must not end a good client.
      if (!Number.isInteger(request.containerPid) || request.containerPid <= 0) {
        return fail(`Invalid container PID: ${request.containerPid}`);
      }
      // A DHCP client's hook replaces its interface's addresses and default route: never the host's.
      const why = await notARuntimeContainer(request.containerPid, this.procRoot);
      if (why) return fail(refusedTarget('start_dhcp', request.containerPid, why));
      const netns = await this.readNetns(request.containerPid);
      if (!netns.ok) return fail(netns.error);
      if (existing) {
        this.options.log.info(
          { step: 'dhcp.replacing', key, oldPid: existing.containerPid, newPid: request.containerPid },
          'replacing the DHCP client: the runtime PID or MAC changed',
        );
        await this.terminate(existing);
        this.clients.delete(key);
      }
      const client: DhcpClient = {
        key,
        containerName: request.containerName,
        vnicName: request.vnicName,
        macAddress: request.macAddress,
        containerPid: request.containerPid,
        netns: netns.id,
        ifname: '',
        state: 'starting',
        child: undefined,
        spawnedAt: 0,
        restarts: 0,
        failures: 0,
        lastIp: null,
        lastError: null,
        lastReported: undefined,
        retryTimer: undefined,
        stopping: false,
        recentOutput: [],
        confirmStarted: undefined,
      };
      this.clients.set(key, client);
      const launched = await this.launch(client);
      if (!launched.success) {
        this.clients.delete(key);
        await this.terminate(client);
        return launched;
      }
      return { success: true, message: `DHCP client started for ${client.ifname}` };
    });
  }

  stop(containerName: string, vnicName: string): Promise<DhcpResult> {
    const key = dhcpKey(containerName, vnicName);
    return this.withLock(key, async () => {
      const client = this.clients.get(key);
      if (!client) return fail(`No DHCP client found for ${key}`);
      await this.terminate(client);
      this.clients.delete(key);
      await unlink(this.leaseFile(key)).catch(() => undefined);
      this.options.log.info({ step: 'dhcp.stopped', key }, 'DHCP client stopped');
      return { success: true, message: `DHCP client stopped for ${key}` };
    });
  }

  status(): Record<string, DhcpClientStatus> {
    const status: Record<string, DhcpClientStatus> = {};
    for (const [key, client] of this.clients) {
      const pid = client.child && client.child.exitCode === null ? (client.child.pid ?? 0) : 0;
      status[key] = {
        running: pid > 0 && (client.state === 'running' || client.state === 'starting'),
        pid,
        last_ip: client.lastIp,
        interface: client.ifname,
        state: client.state,
        container_pid: client.containerPid,
        mac_address: client.macAddress,
        restarts: client.restarts,
        last_error: client.lastError,
      };
    }
    return status;
  }

  /** Ends every client without releasing its lease: the runtimes keep their addresses while the sidecar is away. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    await Promise.all([...this.clients.values()].map((client) => this.terminate(client)));
    this.clients.clear();
  }

  private async launch(client: DhcpClient): Promise<DhcpResult> {
    const ifname = await this.findInterface(client);
    if (!ifname.success) return ifname;
    client.ifname = ifname.message;
    return this.spawnClient(client);
  }

  /** The vNIC's interface inside the runtime, found by MAC; Docker may attach it a moment after the container starts. */
  private async findInterface(client: DhcpClient): Promise<DhcpResult> {
    const { log } = this.options;
    for (let attempt = 1; attempt <= this.lookupAttempts; attempt++) {
      if (client.stopping) return fail(`DHCP client for ${client.key} was stopped`);
      try {
        const ifname = await linkByMac(client.containerPid, client.macAddress, {
          nsenter: this.nsenter,
          ip: this.ip,
          timeoutMs: LOOKUP_COMMAND_TIMEOUT_MS,
        });
        if (ifname) return { success: true, message: ifname };
      } catch (err) {
        log.debug({ step: 'dhcp.lookup_failed', key: client.key, attempt, err }, 'interface lookup failed');
      }
      if (attempt < this.lookupAttempts) await sleep(this.lookupIntervalMs);
    }
    return fail(`Interface with MAC ${client.macAddress} not found in container after ${this.lookupAttempts} retries`);
  }

  private spawnClient(client: DhcpClient): Promise<DhcpResult> {
    const { log, hookPath, leaseDir } = this.options;
    const [command, ...commandArgs] = this.udhcpc;
    const args = [
      '-t',
      String(client.containerPid),
      '-n',
      '--',
      command ?? 'udhcpc',
      ...commandArgs,
      '-f',
      '-i',
      client.ifname,
      '-s',
      hookPath,
      '-t',
      '5',
      '-T',
      '3',
    ];
    const child = spawn(this.nsenter, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ORCH_DHCP_KEY: fileKey(client.key), ORCH_DHCP_LEASE_DIR: leaseDir },
    });
    client.child = child;
    client.spawnedAt = Date.now();
    client.state = 'starting';
    client.lastReported = undefined;
    client.recentOutput = [];
    log.info(
      {
        step: 'dhcp.spawned',
        key: client.key,
        interface: client.ifname,
        containerPid: client.containerPid,
        pid: child.pid,
      },
      'started udhcpc',
    );
    // Both streams are read to the end, always (an unread pipe fills and blocks udhcpc); the hook's lease lines
    // arrive on stdout.
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream! }).on('line', (line) => this.onOutput(client, child, line));
    }

    return new Promise<DhcpResult>((resolve) => {
      let settled = false;
      const settle = (result: DhcpResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.confirmStarted = undefined;
        resolve(result);
      };
      const timer = setTimeout(() => settle({ success: true, message: 'started' }), START_CONFIRM_MS);
      client.confirmStarted = () => settle({ success: true, message: 'started' });
      child.once('error', (err) => {
        client.child = undefined;
        settle(fail(`Cannot run ${this.nsenter}: ${err.message}`));
      });
      child.once('exit', (code, signal) => {
        const output = client.recentOutput.slice(-3).join(' | ');
        const reason = `udhcpc for ${client.key} exited (${signal ?? `code ${code}`})${output ? `: ${output}` : ''}`;
        const launching = !settled;
        settle(fail(reason));
        this.onExit(client, child, reason, launching);
      });
    });
  }

  private onOutput(client: DhcpClient, child: ChildProcess, line: string): void {
    const lease = parseLeaseLine(line);
    if (lease) {
      if (client.child === child) this.onLeaseReport(client, lease);
      return;
    }
    client.recentOutput.push(line);
    if (client.recentOutput.length > RECENT_OUTPUT_LINES) client.recentOutput.shift();
    this.options.log.debug({ step: 'dhcp.output', key: client.key, line }, 'udhcpc output');
    if (client.child === child && /\bstarted\b/.test(line)) {
      if (client.state === 'starting') client.state = 'running';
      client.confirmStarted?.();
    }
  }

  private onLeaseReport(client: DhcpClient, lease: LeaseReport): void {
    const { log } = this.options;
    if (lease.error || !lease.ip) {
      client.lastError = `no DHCP lease on ${client.ifname} (${lease.event}); udhcpc keeps asking`;
      log.warn({ step: 'dhcp.lease_failed', key: client.key, event: lease.event }, 'DHCP lease failed');
      return;
    }
    client.state = 'running';
    client.lastIp = lease.ip;
    client.lastError = null;
    const signature = JSON.stringify([lease.ip, lease.prefix, lease.router, lease.dns, lease.domain]);
    log.info(
      { step: 'dhcp.lease', key: client.key, event: lease.event, ip: lease.ip, prefix: lease.prefix },
      'DHCP lease obtained',
    );
    if (signature === client.lastReported) return;
    client.lastReported = signature;
    this.options.onLease({
      container_name: client.containerName,
      vnic_name: client.vnicName,
      mac_address: client.macAddress,
      ip: lease.ip,
      mask: lease.mask,
      prefix: lease.prefix,
      gateway: lease.router,
      dns: lease.dns,
      lease_time: lease.lease,
      timestamp: lease.timestamp,
      interface: lease.interface || client.ifname,
      domain: lease.domain,
      event: lease.event,
    });
  }

  private onExit(client: DhcpClient, child: ChildProcess, reason: string, launching: boolean): void {
    if (client.child !== child) return;
    client.child = undefined;
    // A failed launch is answered by whoever launched it; a stopped client is not restarted.
    if (launching || client.stopping || this.clients.get(client.key) !== client) return;
    this.options.log.warn(
      { step: 'dhcp.exited', key: client.key, reason },
      'udhcpc exited; deciding whether to restart',
    );
    void this.scheduleRestart(client, reason);
  }

  private async scheduleRestart(client: DhcpClient, reason: string): Promise<void> {
    const { log } = this.options;
    const netns = await this.readNetns(client.containerPid);
    if (client.stopping || this.clients.get(client.key) !== client) return;
    if (!netns.ok || netns.id !== client.netns) {
      // The runtime is gone or its PID now names another process: never restart into it (wrong container).
      client.state = 'waiting_for_container';
      client.lastError = `the runtime process ${client.containerPid} is gone (${reason}); send start_dhcp with the runtime's new PID`;
      log.warn({ step: 'dhcp.waiting', key: client.key, containerPid: client.containerPid }, client.lastError);
      return;
    }
    if (client.spawnedAt > 0 && Date.now() - client.spawnedAt > STABLE_RUN_MS) client.failures = 0;
    const delayMs = backoffMs(client.failures, { baseMs: this.restartMinMs, maxMs: this.restartMaxMs });
    client.failures += 1;
    client.state = 'restarting';
    client.lastError = reason;
    log.info({ step: 'dhcp.restart_scheduled', key: client.key, delayMs }, 'restarting udhcpc after a pause');
    client.retryTimer = setTimeout(() => {
      client.retryTimer = undefined;
      void this.withLock(client.key, async () => {
        if (client.stopping || this.clients.get(client.key) !== client) return;
        client.restarts += 1;
        const launched = await this.launch(client);
        if (!launched.success && !client.stopping && this.clients.get(client.key) === client && !client.child) {
          await this.scheduleRestart(client, launched.error);
        }
      });
    }, delayMs);
  }

  private async terminate(client: DhcpClient): Promise<void> {
    client.stopping = true;
    if (client.retryTimer) clearTimeout(client.retryTimer);
    client.retryTimer = undefined;
    const child = client.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const killTimer = setTimeout(() => child.kill('SIGKILL'), TERM_GRACE_MS);
      const giveUp = setTimeout(resolve, TERM_GRACE_MS + KILL_GRACE_MS);
      child.once('exit', () => {
        clearTimeout(killTimer);
        clearTimeout(giveUp);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  private async readNetns(pid: number): Promise<{ ok: true; id: string } | { ok: false; error: string }> {
    try {
      return { ok: true, id: await readlink(join(this.procRoot, String(pid), 'ns', 'net')) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') {
        return { ok: false, error: `Container PID ${pid} network namespace not found` };
      }
      if (code === 'EACCES' || code === 'EPERM') {
        return { ok: false, error: `Permission denied accessing container PID ${pid} network namespace` };
      }
      return { ok: false, error: `Cannot access container PID ${pid} network namespace: ${(err as Error).message}` };
    }
  }

  private leaseFile(key: string): string {
    return join(this.options.leaseDir, `${fileKey(key)}.lease`);
  }

  /** Start, stop and restarts of one key run one at a time, in arrival order. */
  private withLock<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }
}

function fail(error: string): DhcpResult {
  return { success: false, error };
}

/**
 * The lease file name: the old sidecar replaced `:` by `_`; anything else outside a safe set also becomes `_`, so a
 * vNIC name from the cloud can never point the hook outside the lease directory.
 */
export function fileKey(key: string): string {
  return key.replace(/[^A-Za-z0-9_.-]/g, '_');
}

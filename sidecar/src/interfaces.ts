/**
 * The host's interfaces as the kernel sees them.
 *
 * Source: iproute2 rather than a netlink library. `ip -json addr show` / `ip -json -4 route show` give the whole
 * state as JSON in one cheap call each, and `ip -o monitor link address route` streams netlink notifications from a
 * child process, so nothing here blocks the event loop and no native addon has to be built for the sidecar image.
 * The monitor's lines are only used to learn *which* interface to look at again; the state itself is always
 * re-read as JSON, so a parsing slip can delay an event but never report a wrong address.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import {
  buildInterfaceViews,
  type InterfaceView,
  isIgnoredInterface,
  linkNames,
  parseMonitorLine,
  removedView,
  sameView,
} from './kernel-view.js';
import { type InterfaceInfo, NETWORK_DEBOUNCE_MS, type NetlinkStatus } from './protocol.js';
import { isoLocal } from '../../src/model/time.js';

const execFileAsync = promisify(execFile);
const IP_QUERY_TIMEOUT_MS = 5000;
const MONITOR_RESTART_MIN_MS = 1000;
const MONITOR_RESTART_MAX_MS = 30_000;

export interface InterfaceMonitorOptions {
  log: Logger;
  onChange(info: InterfaceInfo): void;
  /** The iproute2 binary. */
  ipCommand?: string;
  debounceMs?: number;
  /** Where sysfs is (`/sys`): `class/net/<if>/device` tells a hardware port from a virtual link. */
  sysRoot?: string;
}

interface Snapshot {
  startedAt: number;
  views: Promise<Map<string, InterfaceView>>;
}

export class InterfaceMonitor {
  /** The last view reported (or discovered at start) per interface: a change is a difference from it. */
  private readonly known = new Map<string, InterfaceView>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private monitor: ChildProcess | undefined;
  private monitorRestartMs = MONITOR_RESTART_MIN_MS;
  private monitorRestartTimer: NodeJS.Timeout | undefined;
  private inFlight: Snapshot | undefined;
  private stopped = false;
  private started = false;
  /** Monitor exits and failed kernel reads since the last good read (get_netlink_status). */
  private consecutiveErrors = 0;
  private readonly ip: string;
  private readonly debounceMs: number;

  constructor(private readonly options: InterfaceMonitorOptions) {
    this.ip = options.ipCommand ?? 'ip';
    this.debounceMs = options.debounceMs ?? NETWORK_DEBOUNCE_MS;
  }

  /** Starts watching before taking the baseline, so a change in between is not lost. */
  async start(): Promise<void> {
    this.started = true;
    this.startMonitor();
    const views = await this.snapshot(Date.now());
    for (const [name, view] of views) this.known.set(name, view);
    this.options.log.info({ step: 'interfaces.baseline', interfaces: [...views.keys()] }, 'read the host interfaces');
  }

  /** The current kernel view of every reportable interface (for `network_discovery`). */
  async discover(): Promise<InterfaceInfo[]> {
    const views = await this.snapshot(Date.now());
    const timestamp = isoLocal();
    return [...views.values()].map((view) => ({ ...view, timestamp }));
  }

  /** The kernel link watch, in the newest old sidecar's words (docs/protocol.md#command-get_netlink_status). */
  netlinkStatus(): NetlinkStatus {
    const socketActive = this.monitor !== undefined && this.monitor.exitCode === null && this.monitor.pid !== undefined;
    return {
      running: this.started && !this.stopped,
      degraded: !socketActive || this.consecutiveErrors > 0,
      consecutive_errors: this.consecutiveErrors,
      socket_active: socketActive && !this.stopped,
    };
  }

  /** Interfaces whose change waits out its quiet period, in name order. */
  pendingChanges(): string[] {
    return [...this.timers.keys()].sort();
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    if (this.monitorRestartTimer) clearTimeout(this.monitorRestartTimer);
    this.monitor?.kill('SIGTERM');
    this.monitor = undefined;
  }

  /**
   * Reads the kernel state. Callers that need a state newer than `notBefore` never join an older query that is
   * still running; concurrent callers (50 agents connecting at once) share one query.
   */
  private snapshot(notBefore: number): Promise<Map<string, InterfaceView>> {
    if (this.inFlight && this.inFlight.startedAt >= notBefore) return this.inFlight.views;
    const startedAt = Date.now();
    const views = this.queryKernel();
    const entry: Snapshot = { startedAt, views };
    this.inFlight = entry;
    const clear = () => {
      if (this.inFlight === entry) this.inFlight = undefined;
    };
    views.then(clear, clear);
    return views;
  }

  private async queryKernel(): Promise<Map<string, InterfaceView>> {
    const run = async (args: string[]) => {
      const { stdout } = await execFileAsync(this.ip, args, {
        timeout: IP_QUERY_TIMEOUT_MS,
        maxBuffer: 32 * 1024 * 1024,
      });
      return JSON.parse(stdout === '' ? '[]' : stdout) as unknown;
    };
    let addresses: unknown;
    let routes: unknown;
    try {
      [addresses, routes] = await Promise.all([run(['-json', 'addr', 'show']), run(['-json', '-4', 'route', 'show'])]);
    } catch (err) {
      this.consecutiveErrors++;
      throw err;
    }
    // A good read while the monitor runs ends a run of errors.
    if (this.monitor !== undefined && this.monitor.exitCode === null) this.consecutiveErrors = 0;
    const sysRoot = this.options.sysRoot ?? '/sys';
    const physical = new Set<string>();
    const wireless = new Set<string>();
    const exists = (path: string) =>
      access(path).then(
        () => true,
        () => false,
      );
    await Promise.all(
      linkNames(addresses).map(async (name) => {
        // A name from the kernel, but still never a path: `..` or `/` cannot name an interface.
        if (name.includes('/') || name.startsWith('.')) return;
        const dir = join(sysRoot, 'class', 'net', name);
        const [device, wext, phy] = await Promise.all(
          ['device', 'wireless', 'phy80211'].map((entry) => exists(join(dir, entry))),
        );
        if (device) physical.add(name);
        if (wext || phy) wireless.add(name);
      }),
    );
    return buildInterfaceViews(addresses, routes, physical, wireless);
  }

  private startMonitor(): void {
    if (this.stopped) return;
    const { log } = this.options;
    const child = spawn(this.ip, ['-o', 'monitor', 'link', 'address', 'route'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.monitor = child;
    const startedAt = Date.now();
    createInterface({ input: child.stdout! }).on('line', (line) => this.onMonitorLine(line));
    createInterface({ input: child.stderr! }).on('line', (line) =>
      log.warn({ step: 'interfaces.monitor_stderr', line }, 'ip monitor reported a problem'),
    );
    child.on('error', (err) => log.error({ step: 'interfaces.monitor_error', err }, 'cannot run ip monitor'));
    child.on('close', (code, signal) => {
      if (this.monitor !== child || this.stopped) return;
      this.monitor = undefined;
      this.consecutiveErrors++;
      // A monitor that ran for a while earns a fast restart; one that keeps dying backs off.
      if (Date.now() - startedAt > MONITOR_RESTART_MAX_MS) this.monitorRestartMs = MONITOR_RESTART_MIN_MS;
      const delayMs = this.monitorRestartMs;
      this.monitorRestartMs = Math.min(this.monitorRestartMs * 2, MONITOR_RESTART_MAX_MS);
      log.warn({ step: 'interfaces.monitor_exited', code, signal, delayMs }, 'ip monitor exited; restarting it');
      this.monitorRestartTimer = setTimeout(() => {
        this.startMonitor();
        // Notifications may have been lost (also after a netlink buffer overrun): look at everything again.
        void this.resyncAll();
      }, delayMs);
    });
  }

  private onMonitorLine(line: string): void {
    const target = parseMonitorLine(line);
    if (!target.name) return;
    this.touch(target.name);
    if (target.index !== undefined) {
      // A renamed interface keeps its index: the old name must be looked at too, or it would linger as known.
      for (const view of this.known.values()) {
        if (view.index === target.index && view.interface !== target.name) this.touch(view.interface);
      }
    }
  }

  private async resyncAll(): Promise<void> {
    try {
      const views = await this.snapshot(Date.now());
      for (const name of new Set([...views.keys(), ...this.known.keys()])) this.touch(name);
    } catch (err) {
      this.options.log.warn({ step: 'interfaces.resync_failed', err }, 'could not re-read the host interfaces');
    }
  }

  /** Restarts this interface's quiet period (the debounce is per interface, so one busy link delays no other). */
  private touch(name: string): void {
    if (this.stopped || isIgnoredInterface(name)) return;
    const existing = this.timers.get(name);
    if (existing) clearTimeout(existing);
    this.timers.set(
      name,
      setTimeout(() => {
        this.timers.delete(name);
        void this.settle(name, Date.now());
      }, this.debounceMs),
    );
  }

  private async settle(name: string, firedAt: number): Promise<void> {
    let views: Map<string, InterfaceView>;
    try {
      views = await this.snapshot(firedAt);
    } catch (err) {
      this.options.log.warn(
        { step: 'interfaces.query_failed', err, interface: name },
        'could not read interface state',
      );
      this.touch(name);
      return;
    }
    if (this.stopped) return;
    const previous = this.known.get(name);
    const current = views.get(name);
    const view = current ?? (previous ? removedView(previous) : undefined);
    if (!view || sameView(previous, view)) return;
    if (current) this.known.set(name, current);
    else this.known.delete(name);
    this.options.log.info(
      { step: 'interfaces.changed', interface: name, status: view.status, addresses: view.ipv4_addresses.length },
      'interface changed',
    );
    this.options.onChange({ ...view, timestamp: isoLocal() });
  }
}

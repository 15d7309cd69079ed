import { posix } from 'node:path';
import type { Logger } from 'pino';
import type { SerialDevice } from '../../../sidecar/src/protocol.js';
import type { SerialConfig } from '../../model/vplc.js';
import type { VplcStatus } from '../vplc/supervisor.js';
import { errorText } from '../../model/errors.js';

export type SerialPortStatus = 'connected' | 'disconnected' | 'error';

export interface SerialPortState {
  status: SerialPortStatus;
  device: SerialDevice | null;
  error: string | null;
}

/** What passthrough needs from the engine. */
export interface ContainerExec {
  exec(name: string, cmd: string[], timeoutMs?: number): Promise<{ exitCode: number; output: string }>;
}

/**
 * Device majors the runtime's cgroup rules allow (`c 188:* rmw` USB serial adapters, `c 166:* rmw` CDC ACM).
 * `c 4:*` is not granted (it would also open the host's virtual consoles tty0–63), so on-board ttyS ports cannot
 * be passed through; they are reported as an error with that reason.
 */
const ALLOWED_MAJORS = new Set([188, 166]);

/** Exact identity: the full by-id path or its basename (never a substring: two similar adapters would mix up). */
export function matchSerialDevice(
  port: Pick<SerialConfig, 'device_id'>,
  devices: SerialDevice[],
): SerialDevice | undefined {
  return devices.find(
    (d) => d.by_id !== null && (d.by_id === port.device_id || posix.basename(d.by_id) === port.device_id),
  );
}

/**
 * Serial passthrough (docs/protocol.md#serial-passthrough): creates the device node of a configured serial port
 * inside the runtime when the device is present and the runtime runs — again after every container start, since the
 * runtime's /dev is recreated — and removes it when the device is unplugged (the old agent did neither, so a restart
 * lost the port and a stale node stayed).
 */
export class SerialPassthrough {
  private readonly states = new Map<string, Map<string, SerialPortState>>();
  /** The container run whose nodes were made: `<containerId>|<startedAt>`. */
  private readonly runs = new Map<string, string>();
  /** The latest status of every vPLC with serial ports, as `observe` saw it. */
  private readonly vplcs = new Map<string, VplcStatus>();
  private readonly changeListeners = new Set<() => void>();
  /**
   * One queue per vPLC: the commands for one runtime run one at a time, and a runtime whose commands hang or flood
   * (until `exec` stops them) delays nobody else's serial ports.
   */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: {
      engine: ContainerExec;
      devices: () => SerialDevice[];
      log: Logger;
    },
  ) {}

  /** Called after port states changed (records, status). Returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  state(vplc: string, port: string): SerialPortState | undefined {
    return this.states.get(vplc)?.get(port);
  }

  /** A vPLC changed: when it runs a new container run, its nodes are made again. */
  observe(status: VplcStatus): void {
    if (status.spec.serials.length === 0) return;
    if (status.phase === 'deleted') {
      this.vplcs.delete(status.name);
      this.states.delete(status.name);
      this.runs.delete(status.name);
      return;
    }
    this.vplcs.set(status.name, status);
    const run = `${status.containerId}|${status.startedAt}`;
    if (status.phase === 'running' && this.runs.get(status.name) !== run) {
      this.runs.set(status.name, run);
      // The states of the previous run describe nodes that went with its /dev.
      this.states.delete(status.name);
      void this.sync(status.name);
    }
  }

  /** Bring nodes in line with the devices present, for one vPLC or all; each vPLC in its own queue. */
  sync(only?: string): Promise<void> {
    const names = only === undefined ? [...this.vplcs.keys()] : [only];
    return Promise.all(names.map((name) => this.enqueue(name))).then(() => undefined);
  }

  private enqueue(name: string): Promise<void> {
    const next = (this.queues.get(name) ?? Promise.resolve()).then(() => this.syncNow(name));
    const tail = next.catch(() => undefined);
    this.queues.set(name, tail);
    void tail.then(() => {
      if (this.queues.get(name) === tail) this.queues.delete(name);
    });
    return next;
  }

  private async syncNow(name: string): Promise<void> {
    const devices = this.deps.devices();
    let changed = false;
    const vplc = this.vplcs.get(name);
    if (vplc && vplc.spec.serials.length > 0) {
      const running = vplc.phase === 'running';
      let ports = this.states.get(vplc.name);
      if (!ports) {
        ports = new Map();
        this.states.set(vplc.name, ports);
      }
      for (const port of vplc.spec.serials) {
        const device = matchSerialDevice(port, devices) ?? null;
        const before = ports.get(port.name);
        const next = running
          ? await this.apply(vplc.name, port, device, before)
          : { status: 'disconnected' as const, device, error: null };
        if (
          !before ||
          before.status !== next.status ||
          before.device?.path !== next.device?.path ||
          before.error !== next.error
        ) {
          ports.set(port.name, next);
          changed = true;
        }
      }
    }
    if (changed) for (const listener of this.changeListeners) listener();
  }

  private async apply(
    vplc: string,
    port: SerialConfig,
    device: SerialDevice | null,
    before: SerialPortState | undefined,
  ): Promise<SerialPortState> {
    const log = this.deps.log.child({ vplc, port: port.name });
    const path = port.container_path;
    if (!device) {
      if (before?.status === 'connected') {
        // Unplugged: remove the node, so a different adapter later given the same major:minor is not reached
        // through a stale node.
        await this.run(vplc, ['rm', '-f', path]).catch((err: unknown) =>
          log.warn({ err }, 'could not remove the device node'),
        );
        log.info({ step: 'serial.removed', path }, 'serial device unplugged; node removed');
      }
      return { status: 'disconnected', device: null, error: null };
    }
    if (before?.status === 'connected' && before.device?.path === device.path && before.device.minor === device.minor)
      return before;
    if (device.major === null || device.minor === null) {
      return { status: 'error', device, error: `${device.path} reported no device number; cannot create ${path}` };
    }
    if (!ALLOWED_MAJORS.has(device.major)) {
      return {
        status: 'error',
        device,
        error: `${device.path} (major ${device.major}) cannot be passed through: runtimes may use USB serial adapters (ttyUSB, ttyACM) only`,
      };
    }
    try {
      const dir = posix.dirname(path);
      if (dir !== '/dev') await this.run(vplc, ['mkdir', '-p', dir]);
      await this.run(vplc, ['rm', '-f', path]);
      await this.run(vplc, ['mknod', path, 'c', String(device.major), String(device.minor)]);
      await this.run(vplc, ['chmod', '666', path]);
      log.info({ step: 'serial.connected', path, host: device.path }, 'serial device node created');
      return { status: 'connected', device, error: null };
    } catch (err) {
      const error = `could not create ${path} in ${vplc} for ${device.path}: ${errorText(err)}`;
      log.warn({ step: 'serial.failed', err }, 'serial passthrough failed');
      return { status: 'error', device, error };
    }
  }

  private async run(vplc: string, cmd: string[]): Promise<void> {
    const { exitCode, output } = await this.deps.engine.exec(vplc, cmd, 10_000);
    if (exitCode !== 0) throw new Error(`${cmd.join(' ')} exited ${exitCode}${output ? `: ${output}` : ''}`);
  }
}

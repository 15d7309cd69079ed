/**
 * Serial devices from sysfs and `/dev/serial/by-id`, without a udev library (the old sidecar's pyudev was often
 * missing, and then it reported nothing at all). Hot-plug is noticed by polling: a readdir of `/sys/class/tty`
 * every two seconds is cheap and needs neither inotify on sysfs (which does not deliver events) nor udev's socket.
 *
 * The udev property names the old sidecar read map to sysfs attributes of the USB device above the tty:
 * ID_VENDOR_ID = idVendor, ID_MODEL_ID = idProduct, ID_SERIAL_SHORT = serial, ID_VENDOR/ID_MODEL = manufacturer/product
 * with udev's character replacement (spaces become `_`).
 */
import { readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { SerialDevice } from './protocol.js';

const TTY_NAME = /^(ttyUSB\d+|ttyACM\d+|ttyS\d+)$/;
const USB_SEARCH_DEPTH = 8;

export interface SerialMonitorOptions {
  log: Logger;
  onChange(action: 'add' | 'remove', device: SerialDevice): void;
  /** Root of sysfs (tests pass a fake tree). */
  sysRoot?: string;
  /** Root of the device tree; reported paths are always `/dev/...`. */
  devRoot?: string;
  pollMs?: number;
}

export class SerialMonitor {
  private cache = new Map<string, SerialDevice>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private scanning: Promise<SerialDevice[]> | undefined;
  private readonly sysRoot: string;
  private readonly devRoot: string;
  private readonly pollMs: number;

  constructor(private readonly options: SerialMonitorOptions) {
    this.sysRoot = options.sysRoot ?? '/sys';
    this.devRoot = options.devRoot ?? '/dev';
    this.pollMs = options.pollMs ?? 2000;
  }

  async start(): Promise<void> {
    this.running = true;
    // The first scan is the baseline every client gets as device_discovery, not a series of hot-plug adds.
    this.cache = new Map((await enumerateSerialDevices(this.sysRoot, this.devRoot)).map((d) => [d.path, d]));
    this.options.log.info({ step: 'serial.baseline', devices: this.cache.size }, 'read the serial devices');
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The devices as of the last scan. */
  devices(): SerialDevice[] {
    return [...this.cache.values()];
  }

  status(): { running: boolean; pyudev_available: boolean; cached_devices: number; devices: SerialDevice[] } {
    return { running: this.running, pyudev_available: true, cached_devices: this.cache.size, devices: this.devices() };
  }

  /** Enumerates again now, reporting any difference as `device_change` events, and returns the devices. */
  rescan(): Promise<SerialDevice[]> {
    if (!this.scanning) {
      this.scanning = this.scanOnce().finally(() => {
        this.scanning = undefined;
      });
    }
    return this.scanning;
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.rescan()
        .catch((err: unknown) => this.options.log.warn({ step: 'serial.scan_failed', err }, 'serial scan failed'))
        .finally(() => this.schedule());
    }, this.pollMs);
  }

  private async scanOnce(): Promise<SerialDevice[]> {
    const found = await enumerateSerialDevices(this.sysRoot, this.devRoot);
    const next = new Map(found.map((device) => [device.path, device]));
    const previous = this.cache;
    this.cache = next;
    for (const [path, device] of previous) {
      if (!next.has(path)) this.report('remove', device);
    }
    for (const [path, device] of next) {
      const before = previous.get(path);
      if (!before || JSON.stringify(before) !== JSON.stringify(device)) this.report('add', device);
    }
    return found;
  }

  private report(action: 'add' | 'remove', device: SerialDevice): void {
    this.options.log.info({ step: `serial.${action}`, path: device.path, by_id: device.by_id }, 'serial device change');
    this.options.onChange(action, device);
  }
}

/** One pass over sysfs: every reportable tty with its USB identity and by-id link. */
export async function enumerateSerialDevices(sysRoot: string, devRoot: string): Promise<SerialDevice[]> {
  const classDir = join(sysRoot, 'class', 'tty');
  const names = (await readdir(classDir).catch(() => [] as string[])).filter((name) => TTY_NAME.test(name)).sort();
  const byId = await readByIdLinks(devRoot);
  const devices: SerialDevice[] = [];
  for (const name of names) {
    const device = await describeTty(sysRoot, classDir, name, byId);
    if (device) devices.push(device);
  }
  return devices;
}

async function describeTty(
  sysRoot: string,
  classDir: string,
  name: string,
  byId: Map<string, string>,
): Promise<SerialDevice | undefined> {
  const ttyDir = join(classDir, name);
  const numbers = /^(\d+):(\d+)$/.exec((await readText(join(ttyDir, 'dev'))) ?? '');
  if (!numbers) return undefined;
  const major = Number(numbers[1]);
  const minor = Number(numbers[2]);
  if (name.startsWith('ttyS')) {
    // ttyS ports count only from minor 64 (docs/protocol.md#serial-device-discovery). The 8250 driver also registers
    // stand-by ports with no UART behind them (type 0); the old sidecar listed those as usable serial ports, we do not.
    if (minor < 64 || (await readText(join(ttyDir, 'type'))) === '0') return undefined;
  }
  const usb = await findUsbDevice(sysRoot, join(ttyDir, 'device'));
  const attr = async (file: string) => (usb ? ((await readText(join(usb, file))) ?? null) : null);
  const manufacturer = await attr('manufacturer');
  const product = await attr('product');
  return {
    path: `/dev/${name}`,
    by_id: byId.get(name) ?? null,
    major,
    minor,
    vendor_id: await attr('idVendor'),
    product_id: await attr('idProduct'),
    serial: await attr('serial'),
    subsystem: 'tty',
    manufacturer: manufacturer === null ? null : udevEncode(manufacturer),
    product: product === null ? null : udevEncode(product),
  };
}

/** Walks up from the tty's device to the USB device (the directory that has `idVendor`), staying inside sysfs. */
async function findUsbDevice(sysRoot: string, deviceLink: string): Promise<string | undefined> {
  const root = await realpath(sysRoot).catch(() => sysRoot);
  let dir = await realpath(deviceLink).catch(() => undefined);
  for (let depth = 0; dir && depth < USB_SEARCH_DEPTH && dir.startsWith(root) && dir !== root; depth++) {
    if ((await readText(join(dir, 'idVendor'))) !== undefined) return dir;
    dir = dirname(dir);
  }
  return undefined;
}

/** tty name -> `/dev/serial/by-id/<link>` for every by-id symlink that resolves to that node. */
async function readByIdLinks(devRoot: string): Promise<Map<string, string>> {
  const dir = join(devRoot, 'serial', 'by-id');
  const links = new Map<string, string>();
  const entries = (await readdir(dir).catch(() => [] as string[])).sort();
  for (const entry of entries) {
    const target = await readlink(join(dir, entry)).catch(() => undefined);
    if (!target) continue;
    const resolved = target.startsWith('/') ? join(devRoot, target.replace(/^\/dev\//, '')) : resolve(dir, target);
    if (dirname(resolved) !== resolve(devRoot)) continue;
    const name = resolved.slice(resolve(devRoot).length + 1);
    if (!links.has(name)) links.set(name, `/dev/serial/by-id/${entry}`);
  }
  return links;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** udev's ID_VENDOR/ID_MODEL encoding: whitespace runs become `_`, other unsafe characters become `_`. */
export function udevEncode(value: string): string {
  return value
    .trim()
    .replace(/\s+/g, '_')
    .replace(/[^A-Za-z0-9#+\-.:=@_]/g, '_');
}

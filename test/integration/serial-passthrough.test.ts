import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SerialDevice } from '../../sidecar/src/protocol.js';
import { ContainerWatch } from '../../src/actors/vplc/containerWatch.js';
import { SerialPassthrough } from '../../src/actors/serial/passthrough.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import { createVplcOps } from '../../src/actors/vplc/ops.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { ensureVeth, removeTestObjects, removeVeth, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Serial passthrough on a real engine: a USB serial adapter the sidecar reports becomes a device node inside the
 * runtime (again after a restart), and goes away when it is unplugged. No USB hardware is needed: the node is a
 * plain character device number, which is all the runtime's cgroup rules and mknod look at.
 */
const sh = promisify(execFile);
const engines = (await testEngines()).filter((e) => e.label === '20.10');
const log = pino({ level: 'silent' });

const adapter: SerialDevice = {
  path: '/dev/ttyUSB9',
  by_id: '/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_T12345-if00-port0',
  major: 188,
  minor: 9,
  vendor_id: '0403',
  product_id: '6001',
  serial: 'T12345',
  subsystem: 'tty',
  manufacturer: 'FTDI',
  product: 'FT232R_USB_UART',
};
const onboard: SerialDevice = {
  ...adapter,
  path: '/dev/ttyS4',
  by_id: '/dev/serial/by-id/pci-onboard-ttyS4',
  major: 4,
  minor: 68,
};

describe.skipIf(engines.length === 0)('serial passthrough on Docker 20.10', () => {
  const name = 't12-serial-plc';
  const parent = 't12p0';
  const docker = (...args: string[]) => sh('/usr/bin/docker', args);
  let devices: SerialDevice[] = [];
  let supervisor: Supervisor;
  let watch: ContainerWatch;
  let serial: SerialPassthrough;

  const nodeInside = async (path: string) =>
    (await docker('exec', name, 'stat', '-c', '%F %t:%T %a', path).catch(() => ({ stdout: 'absent' }))).stdout.trim();

  beforeAll(async () => {
    await removeTestObjects('/var/run/docker.sock', 't12-', ['t12-', `macvlan_${parent}_`]);
    await ensureVeth(parent, 't12q0');
    const image = await ensureStandinImage();
    const engine = new DockerEngine({ address: { socketPath: '/var/run/docker.sock' }, log, selfContainer: null });
    watch = new ContainerWatch({ engine, log, sampleIntervalMs: 1000 });
    const ops = createVplcOps({
      engine,
      image,
      ulimits: [],
      interfaces: { get: () => undefined },
      dhcp: { start: async () => {}, stop: async () => {} },
      log,
    });
    supervisor = new Supervisor({ ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
    // Nothing to take over on this engine: the supervisor serves at once.
    supervisor.reconciled();
    serial = new SerialPassthrough({ engine, devices: () => devices, log });
    supervisor.onChange((status) => serial.observe(status));
    watch.onFact((n, fact) => supervisor.notify(n, fact));
    await watch.start();
    const admission = supervisor.create({
      name,
      vnics: [
        {
          name: 'eth0',
          parent_interface: parent,
          network_mode: 'static',
          ip: '10.233.0.5',
          subnet: '10.233.0.0/24',
          gateway: '10.233.0.1',
        },
      ],
      serials: [
        { name: 'rtu', device_id: 'usb-FTDI_FT232R_USB_UART_T12345-if00-port0', container_path: '/dev/modbus0' },
        { name: 'onboard', device_id: '/dev/serial/by-id/pci-onboard-ttyS4', container_path: '/dev/ttyS4' },
      ],
    });
    if (!admission.accepted) throw new Error(admission.reason);
    expect(await admission.done).toEqual({ success: true });
  }, 180_000);

  afterAll(async () => {
    supervisor?.stop();
    await watch?.stop();
    await removeTestObjects('/var/run/docker.sock', 't12-', ['t12-', `macvlan_${parent}_`]);
    await removeVeth(parent);
  }, 60_000);

  it('reports a configured adapter that is not plugged in as disconnected', async () => {
    await serial.sync();
    expect(serial.state(name, 'rtu')).toMatchObject({ status: 'disconnected', device: null });
    expect(await nodeInside('/dev/modbus0')).toBe('absent');
  });

  it('creates the device node inside the runtime when the adapter appears, matched by its exact by-id', async () => {
    devices = [
      adapter,
      {
        ...adapter,
        path: '/dev/ttyUSB8',
        by_id: '/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_T1234-if00-port0',
        minor: 8,
      },
    ];
    await serial.sync();
    expect(serial.state(name, 'rtu')).toMatchObject({ status: 'connected', device: { path: '/dev/ttyUSB9' } });
    expect(await nodeInside('/dev/modbus0')).toBe('character special file bc:9 666');
  });

  it('refuses an on-board ttyS port with the reason (its major is not granted: it also opens the host consoles)', async () => {
    devices = [adapter, onboard];
    await serial.sync();
    expect(serial.state(name, 'onboard')).toMatchObject({ status: 'error', error: expect.stringContaining('major 4') });
    expect(await nodeInside('/dev/ttyS4')).toBe('absent');
  });

  it('makes the node again after the runtime restarts', async () => {
    const admission = supervisor.command(name, 'RESTART');
    if (!admission.accepted) throw new Error(admission.reason);
    expect(await admission.done).toEqual({ success: true });
    await waitFor(async () => (await nodeInside('/dev/modbus0')) === 'character special file bc:9 666', {
      timeoutMs: 15_000,
      message: 'the node after the restart',
    });
  }, 60_000);

  it('removes the node when the adapter is unplugged', async () => {
    devices = [];
    await serial.sync();
    expect(serial.state(name, 'rtu')).toMatchObject({ status: 'disconnected' });
    expect(await nodeInside('/dev/modbus0')).toBe('absent');
  });
});

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { InterfaceInfo, SerialDevice } from '../../sidecar/src/protocol.js';
import type { ObservedContainer } from '../../src/actors/vplc/containerWatch.js';
import { LeaseBook } from '../../src/actors/network/leases.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import { consumptionDevice, consumptionOrchestrator } from '../../src/actors/cloud/topics/consumption.js';
import {
  createNewRuntime,
  deleteDevice,
  deviceCommand,
  parentTypes,
} from '../../src/actors/cloud/topics/deviceLifecycle.js';
import { deviceStatus } from '../../src/actors/cloud/topics/deviceStatus.js';
import { hostInterfaces, serialDevices } from '../../src/actors/cloud/topics/hostDevices.js';
import type { TopicContext } from '../../src/io/cloud/router.js';
import type { DeviceContainerStatus, DeviceOperationStatus } from '../../src/io/cloud/topics/index.js';
import { UsageBuffer } from '../../src/io/metrics/usageBuffer.js';
import { validateRequest } from '../../src/io/cloud/validation.js';
import { FakeOps, flush } from '../model/support/fakeOps.js';

const log = pino({ level: 'silent' });
const vnic = {
  name: 'eth0',
  parent_interface: 'eth0',
  network_mode: 'static',
  ip: '192.168.1.77',
  subnet: '192.168.1.0/24',
  gateway: '192.168.1.1',
};

function setup() {
  const fake = new FakeOps();
  const supervisor = new Supervisor({ ops: fake.ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
  supervisor.reconciled();
  const events: Array<{ event: string; payload: object }> = [];
  const ctx: TopicContext = {
    emit: (event, payload) => events.push({ event, payload }),
    signal: new AbortController().signal,
    transient: () => {},
    log,
  };
  return { fake, supervisor, events, ctx };
}

async function runToRunning(fake: FakeOps, name: string) {
  const outputs: Record<string, unknown> = {
    createContainer: { containerId: `id-${name}` },
    startContainer: { containerId: `id-${name}`, startedAt: '2026-01-20T10:00:00.000Z' },
    attachAgent: { internalIp: '172.30.0.2' },
  };
  for (let i = 0; i < 20 && fake.pending(name).length > 0; i++) {
    const [call] = fake.pending(name);
    call!.resolve(outputs[call!.op]);
    await flush();
  }
}

describe('create_new_runtime handler', () => {
  it('refuses a spec with a typo at once and creates nothing', () => {
    const { supervisor } = setup();
    const reply = createNewRuntime(supervisor, {
      container_name: 'plc-1',
      vnic_configs: [{ ...vnic, network_mode: 'DHCP' }],
    });
    expect(reply).toEqual({
      status: 'error',
      error: "vnic_configs[0].network_mode 'DHCP' is not supported: use 'static' or 'dhcp'",
    });
    expect(supervisor.status('plc-1')).toBeUndefined();
  });

  it("starts a creation and says so in the old agent's shape; a second create of the name is refused", () => {
    const { supervisor } = setup();
    const reply = createNewRuntime(supervisor, {
      container_name: 'plc-1',
      vnic_configs: [vnic],
      serial_configs: [{ name: 'rtu', device_id: 'usb-FTDI-if00', container_path: '/dev/modbus0' }],
    });
    expect(reply).toEqual({
      status: 'creating',
      container_id: 'plc-1',
      message: 'Container creation started for plc-1',
      serial_configs_count: 1,
    });
    expect(supervisor.status('plc-1')?.phase).toBe('creating');
    expect(createNewRuntime(supervisor, { container_name: 'plc-1', vnic_configs: [vnic] })).toMatchObject({
      status: 'error',
      error: expect.stringContaining('plc-1'),
    });
  });
});

describe('create_new_runtime reply and runtime_version', () => {
  it('leaves serial_configs_count out when no serial ports were asked for (absent, null or empty)', () => {
    const { supervisor } = setup();
    const requests = [
      { container_name: 'plc-a', vnic_configs: [vnic] },
      { container_name: 'plc-b', vnic_configs: [vnic], serial_configs: null },
      { container_name: 'plc-c', vnic_configs: [vnic], serial_configs: [] },
    ];
    for (const request of requests) {
      expect(createNewRuntime(supervisor, request)).toEqual({
        status: 'creating',
        container_id: request.container_name,
        message: `Container creation started for ${request.container_name}`,
      });
    }
  });

  it('keeps runtime_version in the vPLC spec; absent, null and "" mean the configured tag', () => {
    const { supervisor } = setup();
    createNewRuntime(supervisor, { container_name: 'plc-v2', vnic_configs: [vnic], runtime_version: 'v2' });
    expect(supervisor.status('plc-v2')?.spec.runtimeVersion).toBe('v2');
    for (const [name, runtime_version] of [
      ['plc-absent', undefined],
      ['plc-null', null],
      ['plc-empty', ''],
    ] as const) {
      createNewRuntime(supervisor, { container_name: name, vnic_configs: [vnic], runtime_version });
      expect(supervisor.status(name)?.spec).not.toHaveProperty('runtimeVersion');
    }
  });

  it('refuses a runtime_version that is not an image tag, naming it, and creates nothing', () => {
    const { supervisor } = setup();
    const tagRule =
      "is not an image tag: use at most 128 letters, digits, '_', '.' or '-', starting with a letter, digit or '_' (e.g. latest or v4.1.2)";
    for (const bad of ['latest@sha256:abc', '../v2', 'v2 beta', '-v2', '.v2', 'a'.repeat(129), 'v2:x', 'ü']) {
      const reply = createNewRuntime(supervisor, {
        container_name: 'plc-bad',
        vnic_configs: [vnic],
        runtime_version: bad,
      });
      expect(reply).toMatchObject({ status: 'error' });
      expect((reply as { error: string }).error).toContain(tagRule);
      expect((reply as { error: string }).error).toMatch(/^runtime_version '/);
    }
    expect(supervisor.status('plc-bad')).toBeUndefined();
    for (const good of ['v2', 'latest', '4.1.2', '_x', 'A'.repeat(128)]) {
      const name = `plc-ok-${good.length}-${good.slice(0, 3)}`;
      expect(
        createNewRuntime(supervisor, { container_name: name, vnic_configs: [vnic], runtime_version: good }),
      ).toMatchObject({ status: 'creating' });
    }
  });
});

describe('device command handlers', () => {
  it('refuses an unknown device in the ack and still emits the same-name event with success false', () => {
    const { supervisor, events, ctx } = setup();
    const reply = deviceCommand(supervisor, 'stop_device', { device_id: 'ghost', correlation_id: 3 }, ctx);
    expect(reply).toMatchObject({ status: 'error', device_id: 'ghost' });
    expect(events).toEqual([
      {
        event: 'stop_device',
        payload: expect.objectContaining({ action: 'stop_device', correlation_id: 3, success: false }),
      },
    ]);
  });

  it('acks acceptance and emits success when the stop has really happened', async () => {
    const { supervisor, events, ctx, fake } = setup();
    createNewRuntime(supervisor, { container_name: 'plc-1', vnic_configs: [vnic] });
    await runToRunning(fake, 'plc-1');
    expect(supervisor.status('plc-1')?.phase).toBe('running');
    expect(deviceCommand(supervisor, 'stop_device', { device_id: 'plc-1', correlation_id: 4 }, ctx)).toEqual({
      status: 'accepted',
      device_id: 'plc-1',
      message: 'Stop of plc-1 accepted',
    });
    expect(events).toEqual([]);
    await runToRunning(fake, 'plc-1');
    expect(supervisor.status('plc-1')?.phase).toBe('stopped');
    expect(events).toEqual([
      {
        event: 'stop_device',
        payload: { action: 'stop_device', correlation_id: 4, device_id: 'plc-1', success: true },
      },
    ]);
  });

  it('refuses a delete without a device id by validation, before the handler runs', () => {
    const { supervisor } = setup();
    for (const device_id of ['', '  ']) {
      expect(validateRequest('delete_device', { device_id, correlation_id: 1 })).toEqual({
        ok: false,
        error: 'Invalid field type: device_id: Value must be a non-empty string.',
      });
    }
    // A delete of a name the agent does not know is refused by the handler, naming it.
    expect(deleteDevice(supervisor, { device_id: 'ghost' })).toEqual({
      status: 'error',
      error: 'ghost does not exist; create it first',
    });
  });
});

const observed = (over: Partial<ObservedContainer> = {}): ObservedContainer => ({
  id: 'id-plc-1',
  name: 'plc-1',
  role: 'vplc',
  image: 'ghcr.io/autonomy-logic/openplc-runtime:latest',
  status: 'running',
  running: true,
  exitCode: 0,
  oomKilled: false,
  startedAt: '2026-01-20T10:00:00.000Z',
  finishedAt: null,
  restartCount: 0,
  health: null,
  networks: {
    'plc-1_internal': { ip: '172.30.0.2', mac: '02:42:ac:1e:00:02', gateway: '172.30.0.1' },
    'macvlan_eth0_192.168.1.0_24': { ip: '192.168.1.77', mac: '02:5a:10:33:9c:e1', gateway: '192.168.1.1' },
  },
  internalIp: '172.30.0.2',
  pid: 4242,
  managed: true,
  labels: {},
  networkMode: 'macvlan_eth0_192.168.1.0_24',
  configuredMac: null,
  capAdd: [],
  memoryLimitBytes: 0,
  nanoCpus: 0,
  cpuQuota: 0,
  cpuPeriod: 0,
  observedAt: '2026-01-20T10:00:00.000Z',
  ...over,
});

describe('get_device_status handler', () => {
  it('says not_found for a name the agent does not manage, even if Docker has such a container', () => {
    expect(
      deviceStatus('netmon', {
        status: undefined,
        observed: observed(),
        engineAvailable: true,
        leases: new LeaseBook(),
        serialPort: () => undefined,
        now: new Date(),
      }),
    ).toEqual({
      status: 'not_found',
      device_id: 'netmon',
      message: 'Container netmon does not exist',
    });
  });

  it("reports a creation in progress in the old agent's shape, with the machine state beside it", () => {
    const { supervisor } = setup();
    createNewRuntime(supervisor, { container_name: 'plc-1', vnic_configs: [vnic] });
    const reply = deviceStatus('plc-1', {
      status: supervisor.status('plc-1'),
      observed: undefined,
      engineAvailable: true,
      leases: new LeaseBook(),
      serialPort: () => undefined,
      now: new Date(),
    });
    expect(reply).toMatchObject({
      status: 'creating',
      device_id: 'plc-1',
      operation: 'create',
      message: 'Container plc-1 is being created',
      state: expect.stringMatching(/^creating/),
    });
    expect((reply as DeviceOperationStatus).started_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/);
  });

  it('names the step a failed create failed in, after its rollback', async () => {
    const { supervisor, fake } = setup();
    createNewRuntime(supervisor, { container_name: 'plc-1', vnic_configs: [vnic] });
    fake.only('prepare', 'plc-1').resolve(undefined);
    await flush();
    fake.only('createNetworks', 'plc-1').reject(new Error('parent interface eth0 is down'));
    await flush();
    fake.only('removeContainer', 'plc-1').resolve(undefined);
    await flush();
    fake.only('removeNetworks', 'plc-1').resolve(undefined);
    await flush();
    const reply = deviceStatus('plc-1', {
      status: supervisor.status('plc-1'),
      observed: undefined,
      engineAvailable: true,
      leases: new LeaseBook(),
      serialPort: () => undefined,
      now: new Date(),
    });
    expect(reply).toMatchObject({ status: 'error', operation: 'create', step: 'networks', state: 'failed' });
    expect((reply as DeviceOperationStatus).error).toMatch(/parent interface eth0 is down/);
  });

  it('reports a running vPLC from its actor and the container cache, with the DHCP lease in place of the IPAM address', async () => {
    const { supervisor, fake } = setup();
    createNewRuntime(supervisor, { container_name: 'plc-1', vnic_configs: [vnic] });
    await runToRunning(fake, 'plc-1');
    const leases = new LeaseBook();
    leases.set('plc-1', 'eth0', { ip: '192.168.1.140', prefix: 24, gateway: '192.168.1.254', dns: [], at: 'now' });
    const reply = deviceStatus('plc-1', {
      status: supervisor.status('plc-1'),
      observed: observed(),
      engineAvailable: true,
      leases,
      serialPort: () => undefined,
      now: new Date('2026-01-20T11:00:00.000Z'),
    });
    expect(reply).toMatchObject({
      status: 'success',
      device_id: 'plc-1',
      container_status: 'running',
      is_running: true,
      networks: {
        'macvlan_eth0_192.168.1.0_24': {
          ip_address: '192.168.1.140',
          mac_address: '02:5a:10:33:9c:e1',
          gateway: '192.168.1.254',
        },
      },
      restart_count: 0,
      internal_ip: '172.30.0.2',
      uptime_seconds: 3600,
      state: 'running',
    });
    expect(Object.keys((reply as DeviceContainerStatus).networks)).toEqual(['macvlan_eth0_192.168.1.0_24']);
    expect(reply).not.toHaveProperty('exit_code');
  });

  it('reports each configured serial port with the passthrough state', async () => {
    const { supervisor, fake } = setup();
    createNewRuntime(supervisor, {
      container_name: 'plc-1',
      vnic_configs: [vnic],
      serial_configs: [
        { name: 'rtu', device_id: 'usb-FTDI-if00', container_path: '/dev/modbus0' },
        { name: 'spare', device_id: 'usb-other-if00', container_path: '/dev/modbus1' },
      ],
    });
    await runToRunning(fake, 'plc-1');
    const adapter = {
      path: '/dev/ttyUSB0',
      by_id: '/dev/serial/by-id/usb-FTDI-if00',
      major: 188,
      minor: 0,
      vendor_id: null,
      product_id: null,
      serial: null,
      subsystem: 'tty',
      manufacturer: null,
      product: null,
    };
    const reply = deviceStatus('plc-1', {
      status: supervisor.status('plc-1'),
      observed: observed(),
      engineAvailable: true,
      leases: new LeaseBook(),
      serialPort: (port) =>
        port.name === 'rtu'
          ? { status: 'connected', device: adapter, error: null }
          : { status: 'disconnected', device: null, error: null },
      now: new Date(),
    });
    expect((reply as DeviceContainerStatus).serial_ports).toEqual([
      {
        name: 'rtu',
        device_id: 'usb-FTDI-if00',
        container_path: '/dev/modbus0',
        status: 'connected',
        current_host_path: '/dev/ttyUSB0',
      },
      { name: 'spare', device_id: 'usb-other-if00', container_path: '/dev/modbus1', status: 'disconnected' },
    ]);
  });

  it('answers with a clear error while the Docker engine is unavailable', async () => {
    const { supervisor, fake } = setup();
    createNewRuntime(supervisor, { container_name: 'plc-1', vnic_configs: [vnic] });
    await runToRunning(fake, 'plc-1');
    const reply = deviceStatus('plc-1', {
      status: supervisor.status('plc-1'),
      observed: observed(),
      engineAvailable: false,
      leases: new LeaseBook(),
      serialPort: () => undefined,
      now: new Date(),
    });
    expect(reply).toMatchObject({ status: 'error', error: expect.stringMatching(/^Docker engine unavailable/) });
  });
});

describe('consumption handlers', () => {
  it("refuses an unknown device with the old agent's text", () => {
    expect(
      consumptionDevice({ device_id: 'x', cpuPeriod: '1h', memoryPeriod: '1h' }, false, undefined, undefined, 1000),
    ).toEqual({
      status: 'error',
      error: 'Device x not found',
    });
  });

  it('reads limits from the container cache and series from the buffer with independent periods', () => {
    const buffer = new UsageBuffer();
    for (let t = 1000; t <= 10_000; t += 1000) buffer.add(t, t / 1000, t / 100);
    const reply = consumptionDevice(
      { device_id: 'plc-1', cpuPeriod: '2000,3000', memoryPeriod: '9000,20000' },
      true,
      observed({ memoryLimitBytes: 512 * 1_048_576, nanoCpus: 1.5e9, cpuQuota: 0, cpuPeriod: 0 }),
      buffer,
      20_000,
    );
    expect(reply).toEqual({
      device_id: 'plc-1',
      memory: '512 MB',
      cpu: '1.5 vCPU',
      cpu_usage: [
        { timestamp: 2000, cpu: 2 },
        { timestamp: 3000, cpu: 3 },
      ],
      memory_usage: [
        { timestamp: 9000, memory: 90 },
        { timestamp: 10_000, memory: 100 },
      ],
    });
    expect(
      consumptionDevice(
        { device_id: 'plc-1', cpuPeriod: '1h', memoryPeriod: '1h' },
        true,
        observed(),
        undefined,
        20_000,
      ),
    ).toMatchObject({ memory: 'unlimited', cpu: 'unlimited' });
  });

  it('lists the host addresses without virtual interfaces or loopback', () => {
    const reply = consumptionOrchestrator(
      { cpuPeriod: '1h', memoryPeriod: '1h' },
      { memoryMb: 7845, cpuCount: 4, os: 'Linux 6.8.0', kernel: '6.8.0', diskGb: 228 },
      [iface('eth0', ['192.168.1.50']), iface('docker0', ['172.17.0.1']), iface('wlan0', ['127.0.1.1', '10.0.0.5'])],
      new UsageBuffer(),
      1000,
    );
    expect(reply).toMatchObject({
      ip_addresses: [
        { interface: 'eth0', ip_address: '192.168.1.50' },
        { interface: 'wlan0', ip_address: '10.0.0.5' },
      ],
      memory: 7845,
      cpu: 4,
      disk: 228,
      cpu_usage: [],
      memory_usage: [],
    });
  });
});

function iface(name: string, addresses: string[], extra: Partial<InterfaceInfo> = {}): InterfaceInfo {
  return {
    interface: name,
    index: 2,
    operstate: 'UP',
    ipv4_addresses: addresses.map((address) => ({
      address,
      prefixlen: 24,
      subnet: `${address.split('.').slice(0, 3).join('.')}.0/24`,
      network_address: '',
    })),
    gateway: addresses.length ? `${addresses[0]!.split('.').slice(0, 3).join('.')}.1` : null,
    timestamp: '2026-01-20T10:00:00',
    status: addresses.length ? 'up' : 'no_ipv4',
    mac_address: '02:00:00:00:00:01',
    ...extra,
  };
}

describe('host device handlers', () => {
  it('says the cache is empty when the sidecar has reported nothing', () => {
    expect(hostInterfaces({}, [])).toEqual({
      status: 'error',
      error:
        'Network interface cache is empty. The netmon sidecar may not be running or has not yet discovered interfaces.',
    });
  });

  it('lists real interfaces sorted, with real MACs, address-less ones too, and hides virtual ones unless asked', () => {
    const cache = [
      iface('eth1', ['10.0.0.2']),
      iface('eth0', ['192.168.1.50']),
      iface('docker0', ['172.17.0.1']),
      iface('eth2', []),
    ];
    expect(hostInterfaces({}, cache)).toEqual({
      status: 'success',
      interfaces: [
        {
          name: 'eth0',
          ip_address: '192.168.1.50',
          ipv4_addresses: ['192.168.1.50'],
          mac_address: '02:00:00:00:00:01',
          subnet: '192.168.1.0/24',
          gateway: '192.168.1.1',
        },
        {
          name: 'eth1',
          ip_address: '10.0.0.2',
          ipv4_addresses: ['10.0.0.2'],
          mac_address: '02:00:00:00:00:01',
          subnet: '10.0.0.0/24',
          gateway: '10.0.0.1',
        },
        {
          name: 'eth2',
          ip_address: null,
          ipv4_addresses: [],
          mac_address: '02:00:00:00:00:01',
          subnet: null,
          gateway: null,
          dedicated_only: true,
        },
      ],
    });
    const all = hostInterfaces({ include_virtual: true, detailed: null }, cache);
    if (all.status !== 'success') throw new Error(`expected interfaces, got ${all.error}`);
    expect(all.interfaces.map((i) => i.name)).toEqual(['docker0', 'eth0', 'eth1', 'eth2']);
    expect(all.interfaces[0]).not.toHaveProperty('subnet');
  });

  it('marks dedicated NICs, lists one moved into its runtime, and never offers a WiFi port as dedicated-only', () => {
    const cache = [
      iface('eth0', ['192.168.1.50']),
      iface('eth3', []),
      iface('wlan0', [], { type: 'wifi' }),
      iface('sit0', []),
      iface('can0', []),
    ];
    const reply = hostInterfaces(
      {},
      cache,
      new Map([
        ['plc-1', 'eth3'],
        ['plc-2', 'enp4s0'],
      ]),
    );
    if (reply.status !== 'success') throw new Error(`expected interfaces, got ${reply.error}`);
    expect(reply.interfaces.map((i) => i.name)).toEqual(['enp4s0', 'eth0', 'eth3', 'wlan0']);
    expect(reply.interfaces.find((i) => i.name === 'eth3')).toMatchObject({
      dedicated_to: 'plc-1',
      dedicated_only: true,
    });
    expect(reply.interfaces.find((i) => i.name === 'enp4s0')).toEqual({
      name: 'enp4s0',
      ip_address: null,
      ipv4_addresses: [],
      mac_address: null,
      dedicated_to: 'plc-2',
    });
    expect(reply.interfaces.find((i) => i.name === 'wlan0')).not.toHaveProperty('dedicated_only');
    expect(reply.interfaces.find((i) => i.name === 'eth0')).not.toHaveProperty('dedicated_to');
  });

  it('lists only serial devices with a stable by-id path', () => {
    const device = (path: string, by_id: string | null): SerialDevice => ({
      path,
      by_id,
      major: 188,
      minor: 0,
      vendor_id: '0403',
      product_id: '6001',
      serial: 'A1',
      subsystem: 'tty',
      manufacturer: 'FTDI',
      product: 'FT232R',
    });
    expect(
      serialDevices([device('/dev/ttyUSB0', '/dev/serial/by-id/usb-FTDI-if00'), device('/dev/ttyS4', null)]),
    ).toEqual({
      status: 'success',
      devices: [
        {
          path: '/dev/ttyUSB0',
          device_id: '/dev/serial/by-id/usb-FTDI-if00',
          vendor_id: '0403',
          product_id: '6001',
          serial: 'A1',
          manufacturer: 'FTDI',
          product: 'FT232R',
        },
      ],
      count: 1,
    });
  });
});

describe('parentTypes: a create looks up its parents once the sidecar has reported them', () => {
  /** A sidecar link whose state and interface list the test sets. */
  function link(state: string, list: InterfaceInfo[] = []) {
    const source = {
      state: () => state,
      online: () => state === 'online',
      interfaceList: () => list,
      set(next: { state?: string; list?: InterfaceInfo[] }) {
        if (next.state) state = next.state;
        if (next.list) list = next.list;
      },
    };
    return source;
  }
  const wifi = iface('wlan0', [], { type: 'wifi' });

  it('waits for the discovery of a sidecar that just connected, so a WiFi parent is known as one', async () => {
    const sidecar = link('online');
    setTimeout(() => sidecar.set({ list: [wifi] }), 150);
    const started = Date.now();
    const typeOf = await parentTypes(sidecar, ['wlan0'], 3000, 10);
    expect(typeOf('wlan0')).toBe('wifi');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('waits while the link is still connecting', async () => {
    const sidecar = link('connecting');
    setTimeout(() => sidecar.set({ state: 'online', list: [wifi] }), 150);
    expect((await parentTypes(sidecar, ['wlan0'], 3000, 10))('wlan0')).toBe('wifi');
  });

  it('does not wait when the sidecar is down, when every parent is known, or without vNICs', async () => {
    const started = Date.now();
    expect((await parentTypes(link('backingOff'), ['wlan0'], 3000, 10))('wlan0')).toBeUndefined();
    expect((await parentTypes(link('online', [wifi]), ['wlan0'], 3000, 10))('wlan0')).toBe('wifi');
    expect((await parentTypes(link('connecting'), [], 3000, 10))('wlan0')).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('gives up after its wait on a parent the sidecar does not report', async () => {
    const started = Date.now();
    const typeOf = await parentTypes(link('online', [wifi]), ['eth9'], 200, 10);
    expect(typeOf('eth9')).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });
});

import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Compile } from 'typebox/compile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeviceChangeEvent,
  DeviceDiscoveryEvent,
  DhcpStatusReply,
  ErrorEvent,
  FailureReply,
  LINE_TOO_LONG_ERROR,
  MAX_LINE_BYTES,
  NetworkDiscoveryEvent,
} from '../src/protocol.js';
import { type RunningSidecar, startSidecar } from '../src/sidecar.js';
import { eventually, type Message, TestClient } from './client.js';
import { isRoot, startRuntimeProcess } from './netns.js';

const log = pino({ level: 'silent' });

/** A fake sysfs + /dev with one FTDI adapter, shaped like the kernel's (class link -> device dir -> USB parent). */
async function addUsbTty(root: string, name: string, minor: number, serial: string): Promise<void> {
  const usb = join(root, 'sys', 'devices', 'pci0000:00', 'usb1', `1-${minor + 1}`);
  const port = join(usb, `1-${minor + 1}:1.0`, name);
  await mkdir(join(port, 'tty', name), { recursive: true });
  await writeFile(join(usb, 'idVendor'), '0403\n');
  await writeFile(join(usb, 'idProduct'), '6001\n');
  await writeFile(join(usb, 'serial'), `${serial}\n`);
  await writeFile(join(usb, 'manufacturer'), 'FTDI\n');
  await writeFile(join(usb, 'product'), 'FT232R USB UART\n');
  await writeFile(join(port, 'tty', name, 'dev'), `188:${minor}\n`);
  await symlink(join(port), join(port, 'tty', name, 'device'));
  await mkdir(join(root, 'dev', 'serial', 'by-id'), { recursive: true });
  await writeFile(join(root, 'dev', name), '');
  await symlink(`../../${name}`, join(root, 'dev', 'serial', 'by-id', `usb-FTDI_FT232R_USB_UART_${serial}-if00-port0`));
  // The class entry last: the sidecar's poll sees the tty only once, with its node and by-id link in place (the
  // sidecar reports a tty whose by-id link appears later a second time, which is not what this test is about).
  await mkdir(join(root, 'sys', 'class', 'tty'), { recursive: true });
  await symlink(join(port, 'tty', name), join(root, 'sys', 'class', 'tty', name));
}

async function removeUsbTty(root: string, name: string, serial: string): Promise<void> {
  await rm(join(root, 'sys', 'class', 'tty', name));
  await rm(join(root, 'dev', 'serial', 'by-id', `usb-FTDI_FT232R_USB_UART_${serial}-if00-port0`));
  await rm(join(root, 'dev', name));
}

describe('sidecar socket protocol', () => {
  let dir: string;
  let socketPath: string;
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 't7-protocol-'));
    socketPath = join(dir, 'run', 'netmon.sock');
    await addUsbTty(dir, 'ttyUSB0', 0, 'A1B2C3');
    // A virtual console and an unrelated tty: never reported.
    await mkdir(join(dir, 'sys', 'class', 'tty', 'tty1'), { recursive: true });
    await writeFile(join(dir, 'sys', 'class', 'tty', 'tty1', 'dev'), '4:1\n');
    sidecar = await startSidecar({
      socketPath,
      dataDir: join(dir, 'data'),
      log,
      sysRoot: join(dir, 'sys'),
      devRoot: join(dir, 'dev'),
      serialPollMs: 100,
      commandTimeouts: { start_dhcp: 200 },
      dhcp: { lookupAttempts: 4, lookupIntervalMs: 300 },
    });
  });

  afterAll(async () => {
    await sidecar?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the socket with mode 0660', async () => {
    expect((await stat(socketPath)).mode & 0o777).toBe(0o660);
  });

  it('greets each client with network_discovery and then device_discovery, shaped as the old sidecar', async () => {
    const client = await TestClient.connect(socketPath);
    await client.event('device_discovery');
    const [first, second] = client.messages;
    expect(first?.type).toBe('network_discovery');
    expect(Compile(NetworkDiscoveryEvent).Check(first)).toBe(true);
    expect(second?.type).toBe('device_discovery');
    expect(Compile(DeviceDiscoveryEvent).Check(second)).toBe(true);
    const devices = (second?.data as { devices: Message[] } | undefined)?.devices;
    expect(devices).toEqual([
      {
        path: '/dev/ttyUSB0',
        by_id: '/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A1B2C3-if00-port0',
        major: 188,
        minor: 0,
        vendor_id: '0403',
        product_id: '6001',
        serial: 'A1B2C3',
        subsystem: 'tty',
        manufacturer: 'FTDI',
        product: 'FT232R_USB_UART',
      },
    ]);
    await client.close();
  });

  it('echoes the id of each command in its reply and answers every command exactly once', async () => {
    const client = await TestClient.connect(socketPath);
    const commands = ['get_dhcp_status', 'get_device_status', 'discover_devices', 'no_such_command'];
    for (let i = 0; i < 40; i++) client.send({ command: commands[i % commands.length], id: i });
    client.send({ command: 'get_dhcp_status', id: 'text-id' });
    const replies = await Promise.all(
      [...Array.from({ length: 40 }, (_, i) => i), 'text-id'].map((id) =>
        client.waitFor((m) => m.id === id && !('type' in m), 10_000, `reply ${id}`),
      ),
    );
    expect(replies).toHaveLength(41);
    expect(replies[0]).toEqual({ id: 0, success: true, status: {} });
    expect(Compile(DhcpStatusReply).Check(replies[0])).toBe(true);
    expect(replies[3]).toEqual({ id: 3, success: false, error: 'Unknown command: no_such_command' });
    // A last round trip proves every earlier reply has been flushed; none may be a duplicate.
    await client.request({ command: 'get_dhcp_status' });
    const repliesSeen = client.messages.filter((m) => !('type' in m));
    expect(repliesSeen).toHaveLength(42);
    expect(new Set(repliesSeen.map((m) => m.id)).size).toBe(42);
    await client.close();
  });

  it('answers an invalid JSON line with "Invalid JSON" and keeps serving the stream', async () => {
    const client = await TestClient.connect(socketPath);
    client.sendRaw('{"command": "get_dhcp_status", \n');
    const invalid = await client.waitFor((m) => !('type' in m));
    expect(invalid).toEqual({ success: false, error: 'Invalid JSON' });
    expect(Compile(FailureReply).Check(invalid)).toBe(true);
    client.sendRaw('[1,2]\n"text"\n');
    const notObjects = [await client.waitFor((m) => !('type' in m)), await client.waitFor((m) => !('type' in m))];
    for (const reply of notObjects) expect(reply).toMatchObject({ success: false });
    expect(await client.request({ command: 'get_dhcp_status' })).toMatchObject({ success: true });
    await client.close();
  });

  it('answers an unknown or missing command with its name and the echoed id', async () => {
    const client = await TestClient.connect(socketPath);
    expect(await client.request({ command: 'reboot_host' })).toMatchObject({
      success: false,
      error: 'Unknown command: reboot_host',
    });
    expect(await client.request({ nothing: true })).toMatchObject({
      success: false,
      error: 'Unknown command: undefined',
    });
    await client.close();
  });

  it('discards a line over 1 MiB with an error event and resynchronises at the next newline', async () => {
    const client = await TestClient.connect(socketPath);
    await client.event('device_discovery');
    const huge = `{"command":"get_dhcp_status","id":"huge","pad":"${'x'.repeat(MAX_LINE_BYTES + 10)}"}`;
    // Sent in pieces so that the cap is crossed in the middle of a chunk, then a valid command on the same write.
    for (let offset = 0; offset < huge.length; offset += 65_536) client.sendRaw(huge.slice(offset, offset + 65_536));
    client.sendRaw('\n{"command":"get_dhcp_status","id":"after"}\n');
    const error = await client.waitFor((m) => m.type === 'error');
    expect(error).toEqual({ type: 'error', error: LINE_TOO_LONG_ERROR });
    expect(Compile(ErrorEvent).Check(error)).toBe(true);
    expect(await client.waitFor((m) => m.id === 'after')).toMatchObject({ success: true });
    expect(client.messages.some((m) => m.id === 'huge')).toBe(false);
    expect(client.messages.filter((m) => m.type === 'error')).toHaveLength(1);
    await client.close();
  });

  it('accepts a line of exactly 1 MiB', async () => {
    const client = await TestClient.connect(socketPath);
    const prefix = '{"command":"get_dhcp_status","id":"big","pad":"';
    const line = `${prefix}${'y'.repeat(MAX_LINE_BYTES - prefix.length - 2)}"}`;
    expect(Buffer.byteLength(line)).toBe(MAX_LINE_BYTES);
    client.sendRaw(`${line}\n`);
    expect(await client.waitFor((m) => m.id === 'big')).toMatchObject({ success: true });
    expect(client.messages.some((m) => m.type === 'error')).toBe(false);
    await client.close();
  });

  it('serves 50 clients connecting at once and forgets them when they leave', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => TestClient.connect(socketPath)));
    await Promise.all(clients.map((c) => c.event('device_discovery')));
    const replies = await Promise.all(clients.map((c) => c.request({ command: 'get_device_status' })));
    for (const reply of replies) expect(reply).toMatchObject({ success: true, status: { cached_devices: 1 } });
    for (const client of clients) {
      expect(client.messages.filter((m) => m.type === 'network_discovery')).toHaveLength(1);
      expect(client.messages.filter((m) => m.type === 'device_discovery')).toHaveLength(1);
    }
    // Half leave politely, half vanish mid-command: the server must survive both.
    await Promise.all(clients.slice(0, 25).map((c) => c.close()));
    for (const client of clients.slice(25)) {
      client.sendRaw('{"command":"discover_devices","id":"gone"}\n{"command":');
      await client.close();
    }
    await eventually(() => sidecar.server.clientCount === 0, 10_000, 'all clients to be forgotten');
    const after = await TestClient.connect(socketPath);
    expect(await after.request({ command: 'get_dhcp_status' })).toMatchObject({ success: true });
    await after.close();
  });

  it("validates start_dhcp fields in the old sidecar's order", async () => {
    const client = await TestClient.connect(socketPath);
    const base = { command: 'start_dhcp', container_name: 'plc1', vnic_name: 'eth1', mac_address: '02:00:00:00:00:01' };
    const cases: Array<[Message, string]> = [
      [{ ...base, container_name: '' }, 'Missing container_name'],
      [{ ...base, vnic_name: undefined }, 'Missing vnic_name'],
      [{ ...base, mac_address: null }, 'Missing mac_address'],
      [{ ...base }, 'Missing container_pid'],
      [{ ...base, container_pid: 'abc' }, 'Invalid container_pid: abc'],
      [{ ...base, container_pid: 0 }, 'Invalid container PID: 0'],
      [{ ...base, container_pid: '999999999' }, 'Container PID 999999999 network namespace not found'],
    ];
    for (const [command, error] of cases) {
      expect(await client.request(command)).toMatchObject({ success: false, error });
    }
    expect(await client.request({ command: 'stop_dhcp', container_name: 'plc1' })).toMatchObject({
      success: false,
      error: 'Missing required parameters',
    });
    expect(await client.request({ command: 'stop_dhcp', container_name: 'plc1', vnic_name: 'eth1' })).toMatchObject({
      success: false,
      error: 'No DHCP client found for plc1:eth1',
    });
    await client.close();
  });

  it.skipIf(!isRoot)('answers a command that overruns its timeout once, with a failure, and never again', async () => {
    const client = await TestClient.connect(socketPath);
    // A runtime whose (empty) namespace has no such MAC, so the lookup retries past 200 ms.
    const runtime = await startRuntimeProcess();
    const command = {
      command: 'start_dhcp',
      container_name: 'slow',
      vnic_name: 'eth0',
      mac_address: '02:00:00:00:77:77',
    };
    const reply = await client.request({ ...command, container_pid: runtime.pid });
    expect(reply).toMatchObject({ success: false });
    expect(String(reply.error)).toMatch(/^start_dhcp did not finish within 0.2 s/);
    const dhcpStatus = async () => (await client.request({ command: 'get_dhcp_status' })).status as Message;
    await eventually(async () => !('slow:eth0' in (await dhcpStatus())), 10_000, 'the lookup to give up');
    await client.request({ command: 'get_dhcp_status' });
    expect(client.messages.filter((m) => m.id === reply.id)).toHaveLength(1);
    runtime.child.kill('SIGTERM');
    await client.close();
  });

  it('reports serial hot-plug as device_change add and remove', async () => {
    const client = await TestClient.connect(socketPath);
    await client.event('device_discovery');
    await addUsbTty(dir, 'ttyUSB1', 1, 'Z9Y8X7');
    const added = await client.event('device_change', (d) => d.action === 'add');
    expect(Compile(DeviceChangeEvent).Check(added)).toBe(true);
    expect(added.data).toMatchObject({
      action: 'add',
      device: { path: '/dev/ttyUSB1', by_id: '/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_Z9Y8X7-if00-port0', minor: 1 },
    });
    expect(await client.request({ command: 'discover_devices' })).toMatchObject({
      success: true,
      devices: [{ path: '/dev/ttyUSB0' }, { path: '/dev/ttyUSB1' }],
    });
    await removeUsbTty(dir, 'ttyUSB1', 'Z9Y8X7');
    const removed = await client.event('device_change', (d) => d.action === 'remove');
    expect(removed.data).toMatchObject({ action: 'remove', device: { path: '/dev/ttyUSB1', serial: 'Z9Y8X7' } });
    await client.close();
  });

  it('refuses to take over a socket another sidecar is serving', async () => {
    await expect(
      startSidecar({ socketPath, dataDir: join(dir, 'data2'), log, sysRoot: join(dir, 'sys') }),
    ).rejects.toThrow(/already serving/);
    const client = await TestClient.connect(socketPath);
    expect(await client.request({ command: 'get_dhcp_status' })).toMatchObject({ success: true });
    await client.close();
  });
});

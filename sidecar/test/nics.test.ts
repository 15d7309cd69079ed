/**
 * Dedicated NICs and WiFi vNICs through real namespaces. Every name starts with `i11b`.
 * - `i11bn0` (host) / `i11bm0` (netns `i11b-lan`, 10.243.0.1/24) stands in for a physical port and its LAN.
 * - `i11bw0` (host, 10.244.0.254/24) / `i11bx0` (netns `i11b-wlan`, 10.244.0.1/24, busybox udhcpd) stands in for a
 *   WiFi station and its access point; a prepared sysfs root marks `i11bw0` as wireless.
 * The "runtime" is a process in a network and PID namespace of its own, as Docker's `State.Pid` is.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostEndName } from '../src/proxyArp.js';
import { type RunningSidecar, startSidecar } from '../src/sidecar.js';
import { eventually, type Message, TestClient } from './client.js';
import { deleteLink, deleteNetns, ip, isRoot, sh, startRuntimeProcess } from './netns.js';

const LAN = 'i11b-lan';
const WLAN = 'i11b-wlan';
const NIC = 'i11bn0';
const WIFI = 'i11bw0';

const onHost = (name: string) =>
  ip('link', 'show', 'dev', name).then(
    () => true,
    () => false,
  );
const inside = (pid: number, ...args: string[]) => sh('nsenter', ['-t', String(pid), '-n', '--', 'ip', ...args]);
const pingFrom = (netns: string, address: string) =>
  sh('ip', ['netns', 'exec', netns, 'busybox', 'ping', '-c', '1', '-W', '2', address]).then(
    () => true,
    () => false,
  );

describe.skipIf(!isRoot)('dedicated NICs and Proxy-ARP bridges in real namespaces', () => {
  let dir: string;
  let sidecar: RunningSidecar;
  let client: TestClient;
  let runtime: { child: ChildProcess; pid: number };
  const processes: ChildProcess[] = [];

  beforeAll(async () => {
    await deleteNetns(LAN, WLAN);
    await deleteLink(NIC);
    await deleteLink(WIFI);
    await ip('netns', 'add', LAN);
    await ip('netns', 'add', WLAN);
    await ip('link', 'add', NIC, 'type', 'veth', 'peer', 'name', 'i11bm0', 'netns', LAN);
    await ip('-n', LAN, 'addr', 'add', '10.243.0.1/24', 'dev', 'i11bm0');
    await ip('-n', LAN, 'link', 'set', 'i11bm0', 'up');
    await ip('link', 'set', NIC, 'up');
    await ip('link', 'add', WIFI, 'type', 'veth', 'peer', 'name', 'i11bx0', 'netns', WLAN);
    await ip('-n', WLAN, 'addr', 'add', '10.244.0.1/24', 'dev', 'i11bx0');
    await ip('-n', WLAN, 'link', 'set', 'i11bx0', 'up');
    await ip('addr', 'add', '10.244.0.254/24', 'dev', WIFI);
    await ip('link', 'set', WIFI, 'up');

    dir = await mkdtemp(join(tmpdir(), 'i11b-nics-'));
    await mkdir(join(dir, 'sys', 'class', 'net', WIFI, 'phy80211'), { recursive: true });
    await writeFile(join(dir, 'udhcpd.leases'), '');
    await writeFile(
      join(dir, 'udhcpd.conf'),
      [
        'start 10.244.0.100',
        'end 10.244.0.150',
        'interface i11bx0',
        `lease_file ${join(dir, 'udhcpd.leases')}`,
        `pidfile ${join(dir, 'udhcpd.pid')}`,
        'option subnet 255.255.255.0',
        'option router 10.244.0.1',
        'option lease 600',
        '',
      ].join('\n'),
    );
    processes.push(
      spawn('ip', ['netns', 'exec', WLAN, 'busybox', 'udhcpd', '-f', '-a', '100', join(dir, 'udhcpd.conf')], {
        stdio: 'ignore',
      }),
    );
    runtime = await startRuntimeProcess();
    processes.push(runtime.child);
    sidecar = await startSidecar({
      socketPath: join(dir, 'netmon.sock'),
      dataDir: join(dir, 'data'),
      log: pino({ level: 'silent' }),
      sysRoot: join(dir, 'sys'),
      allowedUids: false,
    });
    client = await TestClient.connect(join(dir, 'netmon.sock'));
    await client.event('device_discovery');
  });

  afterAll(async () => {
    await client?.close();
    await sidecar?.close();
    for (const child of processes) if (child.exitCode === null) child.kill('SIGTERM');
    await deleteLink(NIC);
    await deleteLink(WIFI);
    await deleteLink(hostEndName('i11b-plc', 'wifi0'));
    await deleteNetns(LAN, WLAN);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports the sysfs-marked interface as wifi and the port without IPv4 as ethernet', async () => {
    const discovery = client.messages.find((m) => m.type === 'network_discovery') as Message;
    const interfaces = (discovery.data as { interfaces: Message[] }).interfaces;
    expect(interfaces.find((i) => i.interface === WIFI)).toMatchObject({ type: 'wifi', status: 'up' });
    expect(interfaces.find((i) => i.interface === NIC)).toMatchObject({ type: 'ethernet', status: 'no_ipv4' });
  });

  it('moves a NIC into the runtime, where it answers ping from its LAN, and returns it to the host', async () => {
    const fields = { host_interface: NIC, container_pid: runtime.pid };
    expect(await client.request({ command: 'check_nic_in_container', ...fields })).toMatchObject({ present: false });
    expect(await client.request({ command: 'move_nic_to_container', ...fields })).toMatchObject({ success: true });
    expect(await onHost(NIC)).toBe(false);
    expect(await client.request({ command: 'check_nic_in_container', ...fields })).toMatchObject({ present: true });
    // The sidecar applies no address (as the old one): the PLC configures its port; here the test does.
    await inside(runtime.pid, 'addr', 'add', '10.243.0.50/24', 'dev', NIC);
    expect(await pingFrom(LAN, '10.243.0.50')).toBe(true);
    // A repeated move (reconciliation) is harmless.
    expect(await client.request({ command: 'move_nic_to_container', ...fields })).toMatchObject({ success: true });

    expect(await client.request({ command: 'return_nic_to_host', ...fields })).toMatchObject({ success: true });
    expect(await onHost(NIC)).toBe(true);
    expect(await ip('-json', 'link', 'show', 'dev', NIC)).toContain('"UP"');
    // Returning again, with the NIC already home, still succeeds.
    expect(await client.request({ command: 'return_nic_to_host', ...fields })).toMatchObject({ success: true });
  });

  it("refuses bad NIC requests with the old sidecar's sentences and never acts on the host's PID 1", async () => {
    expect(await client.request({ command: 'move_nic_to_container', container_pid: runtime.pid })).toMatchObject({
      success: false,
      error: 'Missing host_interface',
    });
    expect(
      await client.request({ command: 'move_nic_to_container', host_interface: '../eth0', container_pid: 5 }),
    ).toMatchObject({ error: 'Invalid interface name: ../eth0' });
    expect(await client.request({ command: 'move_nic_to_container', host_interface: NIC })).toMatchObject({
      error: 'Missing container_pid',
    });
    expect(
      await client.request({ command: 'check_nic_in_container', host_interface: NIC, container_pid: 'x' }),
    ).toMatchObject({ error: 'Invalid container_pid: x' });
    const refused = await client.request({ command: 'move_nic_to_container', host_interface: NIC, container_pid: 1 });
    expect(refused).toMatchObject({ success: false });
    expect(String(refused.error)).toMatch(/Refusing move_nic_to_container for process 1/);
    expect(await onHost(NIC)).toBe(true);
  });

  it('leases a WiFi vNIC with its own client id, builds its Proxy-ARP bridge, and cleans every bridge up', async () => {
    const reply = await client.request({
      command: 'request_wifi_dhcp',
      container_name: 'i11b-plc',
      vnic_name: 'wifi0',
      parent_interface: WIFI,
      container_pid: runtime.pid,
    });
    expect(reply).toMatchObject({ success: true, message: `WiFi DHCP client started on ${WIFI}` });
    const update = await client.event('dhcp_update', () => true, 30_000);
    const data = update.data as Message;
    expect(data).toMatchObject({ container_name: 'i11b-plc', vnic_name: 'wifi0', interface: WIFI });
    const leased = String(data.ip);
    expect(leased).toMatch(/^10\.244\.0\.1\d\d$/);
    const host = hostEndName('i11b-plc', 'wifi0');
    expect(data.proxy_arp_config).toEqual({
      veth_host: host,
      veth_container: 'eth1',
      ip_address: leased,
      gateway: '10.244.0.1',
      parent_interface: WIFI,
    });
    // The WiFi interface keeps its own address: the hook never touches it.
    expect(await ip('-4', 'addr', 'show', 'dev', WIFI)).toContain('10.244.0.254/24');
    expect(await inside(runtime.pid, '-4', 'addr', 'show', 'dev', 'eth1')).toContain(`${leased}/24`);
    expect(await inside(runtime.pid, 'route', 'show', 'default')).toContain('via 10.244.0.1 dev eth1');
    // The access point's side reaches the runtime through the host's WiFi MAC.
    await eventually(() => pingFrom(WLAN, leased), 10_000, `ping ${leased} from the WiFi LAN`);
    expect(await ip('neigh', 'show', 'proxy')).toContain(`${leased} dev ${WIFI}`);

    // A foreign veth-* link is not ours and survives the bulk cleanup (the old sidecar deleted it).
    await ip('link', 'add', 'veth-i11bx', 'type', 'veth', 'peer', 'name', 'i11bpeer');
    try {
      const all = await client.request({ command: 'cleanup_all_proxy_arp' });
      expect(all).toMatchObject({ success: true, veths_removed: 1 });
      expect(await onHost(host)).toBe(false);
      expect(await onHost('veth-i11bx')).toBe(true);
      expect(await ip('neigh', 'show', 'proxy')).not.toContain(leased);
      expect(await sh('iptables', ['-S', 'FORWARD'])).not.toContain(host);
    } finally {
      await deleteLink('veth-i11bx');
    }
    expect(
      await client.request({ command: 'stop_wifi_dhcp', container_name: 'i11b-plc', vnic_name: 'wifi0' }),
    ).toMatchObject({ success: true });
    expect(await sh('pgrep', ['-f', `udhcpc -f -i ${WIFI}`]).catch(() => '')).toBe('');
  }, 60_000);
});

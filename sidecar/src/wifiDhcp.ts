/**
 * DHCP for WiFi vNICs (docs/protocol.md#wifi-vnics): one busybox `udhcpc` per `<container>:<vnic>` on the host's
 * WiFi interface, in the host's network namespace, asking with its own client id (option 61, hex of
 * `<container>:<vnic>` as the old sidecar sent it), so the access point's DHCP server leases an address per vNIC
 * while every frame carries the station's MAC. The hook runs with ORCH_DHCP_NO_CONFIGURE=1 and never touches the
 * WiFi interface; each new address is turned into the runtime's Proxy-ARP bridge, and reported as `dhcp_update`
 * with `proxy_arp_config`.
 *
 * Unlike the old sidecar, a client is replaced when the runtime comes back with a new PID (the bridge is rebuilt in
 * the new namespace), and `stop_wifi_dhcp` ends it and removes the bridge.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { parseLeaseLine } from './lease.js';
import { validInterfaceName } from './nics.js';
import { type DhcpUpdateEvent, dhcpKey, type ProxyArpConfig } from './protocol.js';
import type { ProxyArpBridges } from './proxyArp.js';
import { notARuntimeContainer, refusedTarget } from './targets.js';

const RESTART_MS = 2000;
const TERM_GRACE_MS = 3000;

export type WifiDhcpResult = { success: true; message: string } | { success: false; error: string };

interface WifiClient {
  key: string;
  containerName: string;
  vnicName: string;
  wifi: string;
  pid: number;
  clientId: string;
  child: ChildProcess | undefined;
  stopping: boolean;
  restartTimer: NodeJS.Timeout | undefined;
  bridge: ProxyArpConfig | null;
}

export interface WifiDhcpOptions {
  log: Logger;
  leaseDir: string;
  hookPath: string;
  bridges: ProxyArpBridges;
  onLease(update: DhcpUpdateEvent['data']): void;
  udhcpcCommand?: readonly string[];
  procRoot?: string;
}

export class WifiDhcp {
  private readonly clients = new Map<string, WifiClient>();

  constructor(private readonly options: WifiDhcpOptions) {}

  async request(fields: Record<string, unknown>): Promise<WifiDhcpResult> {
    const { container_name: name, vnic_name: vnic, parent_interface: wifi, container_pid: rawPid } = fields;
    if (!name || !vnic || !wifi || !rawPid)
      return { success: false, error: 'Missing required parameters for WiFi DHCP' };
    if (typeof wifi !== 'string' || !validInterfaceName(wifi)) {
      return { success: false, error: `Invalid interface name: ${String(wifi)}` };
    }
    const pid = typeof rawPid === 'number' ? rawPid : /^\d+$/.test(String(rawPid)) ? Number(rawPid) : NaN;
    if (!Number.isInteger(pid) || pid <= 0)
      return { success: false, error: `Invalid container_pid: ${String(rawPid)}` };
    const containerName = String(name);
    const vnicName = String(vnic);
    const key = dhcpKey(containerName, vnicName);
    const existing = this.clients.get(key);
    if (existing && existing.pid === pid && existing.wifi === wifi && existing.child) {
      return { success: true, message: 'WiFi DHCP client already running' };
    }
    const why = await notARuntimeContainer(pid, this.options.procRoot);
    if (why) return { success: false, error: refusedTarget('request_wifi_dhcp', pid, why) };
    if (existing) await this.stop(containerName, vnicName);
    const clientId = typeof fields.client_id === 'string' && fields.client_id !== '' ? fields.client_id : key;
    const client: WifiClient = {
      key,
      containerName,
      vnicName,
      wifi,
      pid,
      clientId,
      child: undefined,
      stopping: false,
      restartTimer: undefined,
      bridge: null,
    };
    this.clients.set(key, client);
    this.spawn(client);
    return { success: true, message: `WiFi DHCP client started on ${wifi}` };
  }

  /** Ends the vNIC's client and removes its bridge. */
  async stop(containerName: string, vnicName: string): Promise<WifiDhcpResult> {
    const key = dhcpKey(containerName, vnicName);
    const client = this.clients.get(key);
    this.clients.delete(key);
    if (client) {
      client.stopping = true;
      if (client.restartTimer) clearTimeout(client.restartTimer);
      await terminate(client.child);
    }
    await this.options.bridges.cleanupCommand({ container_name: containerName, vnic_name: vnicName });
    return { success: true, message: client ? 'WiFi DHCP client stopped' : 'No WiFi DHCP client was running' };
  }

  async shutdown(): Promise<void> {
    await Promise.all(
      [...this.clients.values()].map(async (c) => {
        c.stopping = true;
        if (c.restartTimer) clearTimeout(c.restartTimer);
        await terminate(c.child);
      }),
    );
    this.clients.clear();
  }

  private spawn(client: WifiClient): void {
    const { log } = this.options;
    const [command = 'busybox', ...pre] = this.options.udhcpcCommand ?? ['busybox', 'udhcpc'];
    const hex = Buffer.from(client.clientId, 'utf8').toString('hex');
    const args = [
      ...pre,
      '-f',
      '-i',
      client.wifi,
      '-s',
      this.options.hookPath,
      '-t',
      '5',
      '-T',
      '3',
      '-x',
      `0x3d:${hex}`,
    ];
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ORCH_DHCP_KEY: `${client.containerName}_${client.vnicName}`,
        ORCH_DHCP_LEASE_DIR: this.options.leaseDir,
        ORCH_DHCP_NO_CONFIGURE: '1',
      },
    });
    client.child = child;
    log.info({ step: 'wifi_dhcp.started', key: client.key, wifi: client.wifi, pid: child.pid }, 'WiFi DHCP client');
    createInterface({ input: child.stdout! }).on('line', (line) => void this.onLine(client, line));
    createInterface({ input: child.stderr! }).on('line', () => undefined);
    child.on('error', (err) => log.error({ step: 'wifi_dhcp.spawn_failed', key: client.key, err }, 'udhcpc'));
    child.on('close', (code) => {
      if (client.child === child) client.child = undefined;
      if (client.stopping || this.clients.get(client.key) !== client) return;
      log.warn({ step: 'wifi_dhcp.exited', key: client.key, code }, 'WiFi DHCP client exited; restarting it');
      client.restartTimer = setTimeout(() => {
        if (!client.stopping && this.clients.get(client.key) === client) this.spawn(client);
      }, RESTART_MS);
    });
  }

  private async onLine(client: WifiClient, line: string): Promise<void> {
    const report = parseLeaseLine(line);
    if (!report || report.error || !report.ip || client.stopping) return;
    const router = report.router.split(' ').find(Boolean) ?? '';
    let proxyError: string | undefined;
    if (client.bridge?.ip_address !== report.ip || client.bridge.gateway !== router) {
      if (!router) {
        proxyError = `the lease for ${report.ip} names no router, and a Proxy-ARP bridge needs the WiFi gateway`;
      } else {
        const result = await this.options.bridges.setup({
          containerName: client.containerName,
          vnicName: client.vnicName,
          pid: client.pid,
          wifi: client.wifi,
          ip: report.ip,
          gateway: router,
          mask: String(report.prefix),
        });
        if (result.success && 'proxy_arp_config' in result) client.bridge = result.proxy_arp_config;
        else {
          client.bridge = null;
          proxyError = 'error' in result ? result.error : 'the bridge could not be set up';
        }
      }
      if (proxyError) this.options.log.warn({ step: 'wifi_dhcp.bridge_failed', key: client.key, proxyError }, 'bridge');
    }
    if (client.stopping) return;
    const mac = await this.options.bridges.macOf(client.wifi);
    this.options.onLease({
      container_name: client.containerName,
      vnic_name: client.vnicName,
      mac_address: mac,
      ip: report.ip,
      mask: report.mask,
      prefix: report.prefix,
      gateway: report.router,
      dns: report.dns,
      lease_time: report.lease,
      timestamp: report.timestamp,
      interface: client.wifi,
      domain: report.domain,
      event: report.event,
      ...(client.bridge ? { proxy_arp_config: client.bridge } : {}),
      ...(proxyError ? { proxy_arp_error: proxyError } : {}),
    });
  }
}

async function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), TERM_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

import type { Logger } from 'pino';
import type { DhcpUpdateEvent } from '../../../sidecar/src/protocol.js';
import { isWifiVnic, type VnicConfig, type VplcSpec } from '../../model/vplc.js';
import { stripPrefix } from '../../machines/vplc/validate.js';
import type { LeaseBook } from './leases.js';
import type { SidecarLink } from '../sidecar/link.js';
import { backoffMs, DHCP_RETRY_BACKOFF } from '../../model/backoff.js';
import { vnicNetwork } from '../../model/names.js';
import { errorText } from '../../model/errors.js';

/** What the coordinator needs to know about a runtime's container. */
export interface DhcpContainerView {
  inspect(
    name: string,
  ): Promise<{ running: boolean; pid: number | null; networks: Record<string, { mac: string | null }> } | undefined>;
}

type LeaseListener = (name: string, vnic: string, lease: DhcpUpdateEvent['data']) => void;

interface Pending {
  retry: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Asks the sidecar for DHCP leases on a runtime's `dhcp` vNICs and keeps asking until it answers (the old agent sent
 * `start_dhcp` once and ignored the reply, so a lost request was never retried). Requests that cannot be sent now —
 * sidecar down, runtime not yet running — are retried with a back-off, and everything is re-sent when the sidecar
 * reconnects, which the sidecar treats as a no-op for clients already running (docs/protocol.md#dhcp-requests).
 */
export class DhcpCoordinator {
  private readonly pending = new Map<string, Pending>();
  private readonly random: () => number;
  private readonly known = new Map<string, VplcSpec>();
  private readonly leaseListeners = new Set<LeaseListener>();
  private readonly unsubscribe: Array<() => void>;

  constructor(
    private readonly deps: {
      sidecar: SidecarLink;
      containers: DhcpContainerView;
      leases: LeaseBook;
      log: Logger;
      random?: () => number;
    },
  ) {
    this.random = deps.random ?? Math.random;
    this.unsubscribe = [
      deps.sidecar.on('connected', () => this.resyncAll()),
      deps.sidecar.on('dhcpLease', (lease) => this.onLease(lease)),
    ];
  }

  /** Called for every lease the sidecar reports, after it is in the lease book. Returns the unsubscribe. */
  onLeaseReported(listener: LeaseListener): () => void {
    this.leaseListeners.add(listener);
    return () => this.leaseListeners.delete(listener);
  }

  /** Cancel every pending retry and stop listening to the sidecar (agent shutdown). */
  close(): void {
    for (const name of [...this.pending.keys()]) this.cancel(name);
    this.known.clear();
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    this.leaseListeners.clear();
  }

  /** Start DHCP for every `dhcp` vNIC of a running runtime. Never rejects because the sidecar is away. */
  async start(spec: VplcSpec): Promise<void> {
    if (!spec.vnics.some((v) => v.network_mode === 'dhcp' || isWifiVnic(v))) return;
    this.known.set(spec.name, spec);
    await this.attempt(spec);
  }

  /** Stop the runtime's DHCP clients (before stop/delete) and its retries; `forgetLeases` on delete. */
  async stop(spec: VplcSpec, opts: { forgetLeases?: boolean } = {}): Promise<void> {
    this.cancel(spec.name);
    this.known.delete(spec.name);
    if (opts.forgetLeases) this.deps.leases.forget(spec.name);
    if (!this.deps.sidecar.online()) return;
    for (const vnic of spec.vnics.filter((v) => v.network_mode === 'dhcp' || isWifiVnic(v))) {
      try {
        const reply = await this.deps.sidecar.request(
          !isWifiVnic(vnic)
            ? { command: 'stop_dhcp', container_name: spec.name, vnic_name: vnic.name }
            : vnic.network_mode === 'static'
              ? { command: 'cleanup_proxy_arp_bridge', container_name: spec.name, vnic_name: vnic.name }
              : { command: 'stop_wifi_dhcp', container_name: spec.name, vnic_name: vnic.name },
        );
        // Its bridge is gone with it; the lease stays known until the vNIC itself goes (forgetLeases).
        if (isWifiVnic(vnic)) this.deps.leases.forgetBridge(spec.name, vnic.name);
        if (!reply.success && !/No DHCP client found/.test(reply.error)) {
          this.deps.log.warn({ vplc: spec.name, vnic: vnic.name, error: reply.error }, 'sidecar could not stop DHCP');
        }
      } catch (error) {
        this.deps.log.warn({ err: error, vplc: spec.name, vnic: vnic.name }, 'stop_dhcp was not answered');
      }
    }
  }

  private async attempt(spec: VplcSpec): Promise<void> {
    const log = this.deps.log.child({ vplc: spec.name });
    const problem = await this.send(spec).catch((error: unknown) => errorText(error));
    if (problem === null) {
      this.cancel(spec.name);
      return;
    }
    const previous = this.pending.get(spec.name);
    const retry = previous ? previous.retry + 1 : 0;
    const delay = backoffMs(retry, DHCP_RETRY_BACKOFF, this.random);
    log.warn({ retryInMs: delay, problem }, 'DHCP request not done; will retry');
    if (previous?.timer) clearTimeout(previous.timer);
    const timer = setTimeout(() => {
      const current = this.known.get(spec.name);
      if (current) void this.attempt(current);
    }, delay);
    timer.unref();
    this.pending.set(spec.name, { retry, timer });
  }

  /** Sends start_dhcp for each DHCP vNIC; resolves null when all were accepted, else the first problem. */
  private async send(spec: VplcSpec): Promise<string | null> {
    if (!this.deps.sidecar.online()) return 'the network monitor sidecar is not connected';
    const container = await this.deps.containers.inspect(spec.name);
    if (!container) return `container ${spec.name} does not exist`;
    if (!container.running || !container.pid) return `container ${spec.name} is not running`;
    for (const vnic of spec.vnics.filter(isWifiVnic)) {
      const problem = await this.joinWifi(spec, vnic, container.pid);
      if (problem !== null) return problem;
    }
    for (const vnic of spec.vnics.filter((v) => v.network_mode === 'dhcp' && !isWifiVnic(v))) {
      const network = vnicNetwork(container.networks, vnic.parent_interface);
      const mac = network?.[1].mac;
      if (!mac)
        return `vNIC ${vnic.name} of ${spec.name} is not attached to a MACVLAN network on ${vnic.parent_interface}`;
      const reply = await this.deps.sidecar.request({
        command: 'start_dhcp',
        container_name: spec.name,
        vnic_name: vnic.name,
        mac_address: mac,
        container_pid: container.pid,
      });
      if (!reply.success) return `DHCP for vNIC ${vnic.name} of ${spec.name} failed: ${reply.error}`;
    }
    return null;
  }

  /**
   * A WiFi vNIC (docs/protocol.md#wifi-vnics): a static one gets its Proxy-ARP bridge now, any other asks the sidecar
   * for a lease on the WiFi interface, and the bridge follows the lease. Null when the sidecar accepted.
   */
  private async joinWifi(spec: VplcSpec, vnic: VnicConfig, pid: number): Promise<string | null> {
    const { sidecar, leases } = this.deps;
    const label = `WiFi vNIC ${vnic.name} of ${spec.name}`;
    if (vnic.network_mode === 'static') {
      if (!vnic.ip || !vnic.gateway) {
        return `${label} is static but has no ip or no gateway, and its Proxy-ARP bridge needs both; send them in vnic_configs`;
      }
      const reply = await sidecar.request({
        command: 'setup_proxy_arp_bridge',
        container_name: spec.name,
        vnic_name: vnic.name,
        container_pid: pid,
        parent_interface: vnic.parent_interface,
        ip_address: stripPrefix(vnic.ip),
        gateway: vnic.gateway,
        subnet_mask: vnic.subnet ?? '255.255.255.0',
      });
      if (!reply.success) return `${label}: ${reply.error}`;
      if ('proxy_arp_config' in reply) leases.setBridge(spec.name, vnic.name, reply.proxy_arp_config);
      return null;
    }
    const reply = await sidecar.request({
      command: 'request_wifi_dhcp',
      container_name: spec.name,
      vnic_name: vnic.name,
      parent_interface: vnic.parent_interface,
      container_pid: pid,
      client_id: `${spec.name}:${vnic.name}`,
    });
    return reply.success ? null : `DHCP for ${label} failed: ${reply.error}`;
  }

  private cancel(name: string): void {
    const pending = this.pending.get(name);
    if (pending?.timer) clearTimeout(pending.timer);
    this.pending.delete(name);
  }

  private resyncAll(): void {
    for (const spec of this.known.values()) {
      this.cancel(spec.name);
      void this.attempt(spec);
    }
  }

  private onLease(lease: DhcpUpdateEvent['data']): void {
    if (!lease.container_name || !lease.vnic_name || !lease.ip) return;
    this.deps.leases.set(lease.container_name, lease.vnic_name, {
      ip: lease.ip,
      prefix: Number.isFinite(lease.prefix) ? lease.prefix : null,
      gateway: lease.gateway.split(' ').find(Boolean) ?? null,
      dns: lease.dns.split(' ').filter(Boolean),
      at: lease.timestamp,
    });
    if (lease.proxy_arp_config)
      this.deps.leases.setBridge(lease.container_name, lease.vnic_name, lease.proxy_arp_config);
    if (lease.proxy_arp_error) {
      this.deps.log.warn(
        { vplc: lease.container_name, vnic: lease.vnic_name, error: lease.proxy_arp_error },
        'WiFi lease without a Proxy-ARP bridge',
      );
    }
    for (const listener of this.leaseListeners) listener(lease.container_name, lease.vnic_name, lease);
  }
}

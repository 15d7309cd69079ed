import type { ProxyArpConfig } from '../../../sidecar/src/protocol.js';

/**
 * The DHCP leases the sidecar reported in `dhcp_update` events, per vPLC and vNIC, and the Proxy-ARP bridges of WiFi
 * vNICs (from a WiFi lease or a static set-up: the old agent's `_proxy_arp_config`).
 */
export interface Lease {
  ip: string;
  prefix: number | null;
  gateway: string | null;
  dns: string[];
  at: string;
}

export class LeaseBook {
  private readonly leases = new Map<string, Map<string, Lease>>();
  private readonly bridges = new Map<string, Map<string, ProxyArpConfig>>();

  setBridge(vplc: string, vnic: string, bridge: ProxyArpConfig): void {
    let byVnic = this.bridges.get(vplc);
    if (!byVnic) {
      byVnic = new Map();
      this.bridges.set(vplc, byVnic);
    }
    byVnic.set(vnic, bridge);
  }

  bridge(vplc: string, vnic: string): ProxyArpConfig | undefined {
    return this.bridges.get(vplc)?.get(vnic);
  }

  forgetBridge(vplc: string, vnic: string): void {
    this.bridges.get(vplc)?.delete(vnic);
  }

  set(vplc: string, vnic: string, lease: Lease): void {
    let byVnic = this.leases.get(vplc);
    if (!byVnic) {
      byVnic = new Map();
      this.leases.set(vplc, byVnic);
    }
    byVnic.set(vnic, lease);
  }

  get(vplc: string, vnic: string): Lease | undefined {
    return this.leases.get(vplc)?.get(vnic);
  }

  /** A lease belongs to one incarnation of a vNIC: forget it when the vPLC or its network goes away. */
  forget(vplc: string, vnic?: string): void {
    if (vnic === undefined) {
      this.leases.delete(vplc);
      this.bridges.delete(vplc);
    } else {
      this.leases.get(vplc)?.delete(vnic);
      this.bridges.get(vplc)?.delete(vnic);
    }
  }
}

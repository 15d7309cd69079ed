/** The DHCP leases the sidecar reported in `dhcp_update` events, per vPLC and vNIC. */
export interface Lease {
  ip: string;
  prefix: number | null;
  gateway: string | null;
  dns: string[];
  at: string;
}

export class LeaseBook {
  private readonly leases = new Map<string, Map<string, Lease>>();

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
    if (vnic === undefined) this.leases.delete(vplc);
    else this.leases.get(vplc)?.delete(vnic);
  }
}

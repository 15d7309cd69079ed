import type { DockerEngine } from '../../io/docker/engine.js';
import { generateMac, normalizeMac } from '../../io/docker/macs.js';
import type { VplcSpec } from '../../model/vplc.js';

/**
 * Where a vNIC's MAC comes from, in one place: the cloud's choice (checked free on its parent), else one generated
 * (locally administered, avoiding every MAC in use on that parent), and after a network move the MAC the sidecar set
 * back inside the runtime (`KeptMacs`), since Docker cannot choose the MAC of a network it connects.
 */

type MacsInUse = Pick<DockerEngine, 'macsInUse'>;

/** Refuse a requested MAC that another container already uses on the same parent interface. */
export async function assertMacsFree(engine: MacsInUse, spec: VplcSpec): Promise<void> {
  const byParent = new Map<string, Map<string, string>>();
  for (const vnic of spec.vnics) {
    if (!vnic.mac) continue;
    let used = byParent.get(vnic.parent_interface);
    if (!used) {
      used = await engine.macsInUse(vnic.parent_interface, spec.name);
      byParent.set(vnic.parent_interface, used);
    }
    const holder = used.get(normalizeMac(vnic.mac));
    if (holder !== undefined) {
      throw new Error(
        `MAC address ${vnic.mac} is already in use. Container ${holder} uses it on parent interface ${vnic.parent_interface}; choose another MAC or leave mac empty to have one generated.`,
      );
    }
  }
}

/** The MAC of every vNIC, in order: the requested one, or one generated that nothing on its parent uses. */
export async function chooseMacs(engine: MacsInUse, spec: VplcSpec): Promise<string[]> {
  const usedByParent = new Map<string, Set<string>>();
  const macs: string[] = [];
  for (const vnic of spec.vnics) {
    if (vnic.mac) {
      macs.push(normalizeMac(vnic.mac));
      continue;
    }
    let used = usedByParent.get(vnic.parent_interface);
    if (!used) {
      used = new Set((await engine.macsInUse(vnic.parent_interface, spec.name)).keys());
      usedByParent.set(vnic.parent_interface, used);
    }
    const mac = generateMac(used);
    used.add(mac);
    macs.push(mac);
  }
  return macs;
}

/** A MAC set back by `set_mac` on one endpoint: `docker` is what Docker reports for it, `pid` the process it was set in. */
export interface KeptMac {
  mac: string;
  docker: string | null;
  pid: number | null;
}

/**
 * The MACs vNICs really have after a move, where Docker's inspect still shows the MAC Docker assigned, by runtime
 * and network. An entry applies only while Docker reports the MAC it was set over (a recreated endpoint or container
 * has another one, and then Docker's value is the truth again).
 */
export class KeptMacs {
  private readonly byVplc = new Map<string, Map<string, KeptMac>>();

  set(vplc: string, network: string, kept: KeptMac): void {
    let networks = this.byVplc.get(vplc);
    if (!networks) {
      networks = new Map();
      this.byVplc.set(vplc, networks);
    }
    networks.set(network, { ...kept, mac: normalizeMac(kept.mac), docker: kept.docker && normalizeMac(kept.docker) });
  }

  get(vplc: string, network: string): KeptMac | undefined {
    return this.byVplc.get(vplc)?.get(network);
  }

  entries(vplc: string): Array<[string, KeptMac]> {
    return [...(this.byVplc.get(vplc) ?? new Map<string, KeptMac>()).entries()];
  }

  delete(vplc: string, network?: string): void {
    if (network === undefined) this.byVplc.delete(vplc);
    else this.byVplc.get(vplc)?.delete(network);
  }

  /** The MAC the interface on `network` has, given what Docker reports for it. */
  actual(vplc: string, network: string, dockerMac: string | null): string | null {
    const kept = this.get(vplc, network);
    if (!kept || kept.docker === null || !dockerMac || normalizeMac(dockerMac) !== kept.docker) return dockerMac;
    return kept.mac;
  }

  /** `networks` as Docker reports them, with each kept MAC in place of Docker's. */
  apply<T extends { mac: string | null }>(vplc: string, networks: Record<string, T>): Record<string, T> {
    if (!this.byVplc.has(vplc)) return networks;
    const out: Record<string, T> = {};
    for (const [network, endpoint] of Object.entries(networks)) {
      out[network] = { ...endpoint, mac: this.actual(vplc, network, endpoint.mac) };
    }
    return out;
  }
}

import type { Logger } from 'pino';
import type { ContainerFacts, NetworkFacts } from '../../io/docker/convert.js';
import { isOurMacvlanNetwork } from '../../io/docker/ownership.js';
import type { DockerEngine } from '../../io/docker/engine.js';
import { Conflict } from '../../io/docker/errors.js';
import { isManagedRuntime, macsFromLabels, specFromLabels } from '../../io/docker/labels.js';
import { normalizeMac } from '../../io/docker/macs.js';
import { KeptMacs } from './macs.js';
import { macvlanNetworkName } from '../../model/names.js';
import { explicitSubnet, type InterfaceLookup, type ResolvedSubnet } from '../../io/docker/subnet.js';
import type { VnicConfig, VplcSpec } from '../../model/vplc.js';
import { stripPrefix } from '../../machines/vplc/validate.js';
import { vnicNetwork } from '../../model/names.js';
import { errorText } from '../../model/errors.js';

/**
 * Moving runtimes' MACVLAN endpoints to the network of a parent interface's new subnet
 * (docs/protocol.md#subnet-changes; the old agent reused a static IP outside the new subnet, kept the old network and
 * never restarted DHCP).
 *
 * Engine facts this is built on (measured on dockerd 20.10 / API 1.41 and 26.1 / API 1.45):
 * - Docker allows one MACVLAN network per parent interface ("network dm-… is already using parent interface"), so
 *   the old network has to be emptied and removed before the new one can exist: every runtime on that parent is
 *   disconnected, the old network removed, the new one created and every runtime connected again.
 * - Neither engine lets a connect choose the MAC of a new network. API 1.41 takes a chosen MAC only from the
 *   container-level `Config.MacAddress`, and only for the network named in `HostConfig.NetworkMode` (reconnecting
 *   that very network keeps it); `EndpointConfig.MacAddress` and the driver option
 *   `com.docker.network.endpoint.macaddress` are ignored. API 1.45 honours `EndpointConfig.MacAddress` at container
 *   create only: on connect (running or stopped container) it is ignored too. A moved endpoint therefore gets
 *   Docker's MAC (`02:42:` + its IPAM address). The vNIC keeps its MAC all the same (DHCP reservations and switch
 *   filters are tied to it): the sidecar's `set_mac` sets it back inside the runtime's network namespace (the kernel
 *   takes a new address on an up macvlan), before DHCP is asked for a lease. Docker's inspect keeps showing its own
 *   MAC, so `KeptMacs` remembers what the interface really has, for get_device_status, runtime_vnics.json and DHCP.
 *   Only when the sidecar cannot do it is the replaced MAC reported as a conflict (last_error), with the reason. The
 *   MAC is still asked for on API ≥ 1.44, so an engine that honours it keeps it without the sidecar.
 * - A container restart recreates the endpoint with Docker's MAC: `reapplyKeptMacs` sets the kept MAC again after
 *   every start by this agent. Kept MACs live in memory: after an agent restart a moved vNIC that is restarted shows
 *   Docker's MAC again (reported by get_device_status as it is).
 * - API 1.41 connects, starts and restarts a container whose primary network was removed. API ≥ 1.44 refuses all
 *   three ("could not find a network matching network mode …"): a runtime whose primary network is the MACVLAN
 *   network being replaced would be left unstartable, so such a move is refused before anything is touched. Our own
 *   runtimes on API ≥ 1.44 have the internal bridge as their primary network (convert.ts, as the old agent did), so
 *   only runtimes created by an older agent version or by hand with a MACVLAN primary are refused.
 */

export interface NetworkMoveDeps {
  engine: DockerEngine;
  interfaces: InterfaceLookup;
  /** Runtimes adopted from the old agent (no labels) may be moved too. */
  isAdopted: (name: string) => boolean;
  /**
   * MACVLAN networks the old agent made (no labels), proven by its files and their shape; they may be emptied and
   * removed like ours. Absent: only labelled networks are.
   */
  isOldAgentNetwork?: (net: NetworkFacts) => boolean;
  /** A moved DHCP vNIC's lease belongs to the old subnet. */
  forgetLease: (vplc: string, vnic: string) => void;
  /** A runtime's networks changed (status caches re-read it). */
  onMoved: (vplc: string) => void;
  /**
   * Give the interface with `currentMac` in the network namespace of `pid` the MAC `mac` (the sidecar's `set_mac`).
   * Rejects with a sentence when it could not (sidecar away, interface not found). Absent: MACs are not kept.
   */
  setMac?: (pid: number, currentMac: string, mac: string) => Promise<void>;
  /** Where kept MACs are remembered; shared with whoever reports MACs. */
  keptMacs?: KeptMacs;
  log: Logger;
}

/** A runtime attached to a MACVLAN network that has to go. */
interface Member {
  name: string;
  facts: ContainerFacts;
  from: string;
}

function ipv4Number(text: string): number | null {
  const parts = text.trim().split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function parseCidr(cidr: string): { base: number; prefix: number } | null {
  const [address = '', prefixText = ''] = cidr.trim().split('/');
  const ip = ipv4Number(address);
  const prefix = /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (ip === null || !(prefix >= 0 && prefix <= 32)) return null;
  const size = 2 ** (32 - prefix);
  return { base: ip - (ip % size), prefix };
}

/** Whether two CIDRs name the same network (`10.0.0.5/24` and `10.0.0.0/24` do). */
export function sameSubnet(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x !== null && y !== null && x.base === y.base && x.prefix === y.prefix;
}

export function subnetContains(cidr: string, ip: string): boolean {
  const net = parseCidr(cidr);
  const address = ipv4Number(ip);
  if (net === null || address === null) return false;
  const size = 2 ** (32 - net.prefix);
  return address >= net.base && address < net.base + size;
}

function vnicLabel(vnic: VnicConfig, index: number): string {
  return vnic.name.trim() === '' ? `unnamed_vnic_${index}` : vnic.name;
}

function staticAddress(vnic: VnicConfig | undefined): string | null {
  return vnic?.network_mode === 'static' && vnic.ip ? stripPrefix(vnic.ip) : null;
}

/** The vNIC's explicit subnet when it still matches the parent's current one, else the parent's. */
function targetSubnet(vnic: VnicConfig, label: string, host: ResolvedSubnet): ResolvedSubnet {
  let explicit: ResolvedSubnet | undefined;
  try {
    explicit = explicitSubnet(vnic, label);
  } catch {
    explicit = undefined;
  }
  return explicit && sameSubnet(explicit.subnet, host.subnet) ? explicit : host;
}

export function staticIpConflict(vplc: string, vnic: string, ip: string, subnet: string, parent: string): string {
  return `vNIC ${vnic} of ${vplc}: static IP ${ip} is outside the new subnet ${subnet} of ${parent}, so it was connected without it; send a new configuration with an address in ${subnet} (delete and create ${vplc})`;
}

export function macReplacedConflict(vplc: string, vnic: string, from: string, to: string, why: string): string {
  return `vNIC ${vnic} of ${vplc} now has MAC ${to} instead of ${from}: Docker cannot choose the MAC of a network it connects to an existing container, and setting ${from} back failed (${why}), so DHCP reservations and MAC filters for ${from} no longer match; update them, restart ${vplc} once the network monitor sidecar runs, or delete and create ${vplc} to get ${from} back`;
}

export class NetworkMover {
  /**
   * The MAC each moved vNIC had before its move, by `<vplc>:<vnic>`. Compared with what the engine gave it on every
   * later move (a stopped runtime gets its MAC only when it starts), and reported until they match again.
   */
  private readonly macsBeforeMove = new Map<string, string>();
  private readonly kept: KeptMacs;

  constructor(private readonly deps: NetworkMoveDeps) {
    this.kept = deps.keptMacs ?? new KeptMacs();
  }

  /** A MACVLAN network this agent, or the old agent it took over from, made: the only ones a move removes. */
  private readonly ours = (net: NetworkFacts): boolean =>
    isOurMacvlanNetwork(net) || (this.deps.isOldAgentNetwork?.(net) ?? false);

  /** Forget what is remembered about a runtime (it was deleted). */
  forget(vplc: string): void {
    for (const key of this.macsBeforeMove.keys()) if (key.startsWith(`${vplc}:`)) this.macsBeforeMove.delete(key);
    this.kept.delete(vplc);
  }

  /**
   * Set the kept MACs of a runtime again after it (re)started: Docker recreated its endpoints with its own MACs.
   * Never rejects; what fails is logged and get_device_status shows the MAC the vNIC has.
   */
  async reapplyKeptMacs(vplc: string): Promise<void> {
    const entries = this.kept.entries(vplc);
    if (entries.length === 0) return;
    let facts: ContainerFacts | undefined;
    try {
      facts = await this.deps.engine.inspectContainer(vplc);
    } catch (err) {
      this.deps.log.warn({ step: 'mac.reapply_failed', vplc, err: errorText(err) }, 'could not read the runtime');
      return;
    }
    if (!facts) return;
    for (const [network, kept] of entries) {
      const problem = await this.keepMac(facts, network, kept.mac);
      if (problem) this.deps.log.warn({ step: 'mac.reapply_failed', vplc, network, problem }, 'vNIC lost its kept MAC');
    }
  }

  /**
   * Move the vNICs of `spec` on `parent` to the network of the parent's current subnet. The caller holds the
   * parent's lock. Returns the conflicts (sentences); throws when an endpoint could not be moved.
   */
  async move(spec: VplcSpec, parent: string): Promise<string[]> {
    const { engine, log } = this.deps;
    const vnics = spec.vnics
      .map((vnic, index) => ({ vnic, label: vnicLabel(vnic, index) }))
      .filter((v) => v.vnic.parent_interface === parent);
    if (vnics.length === 0) return [];
    const host = this.deps.interfaces.get(parent);
    if (!host || host.subnet.trim() === '') {
      log.info(
        { step: 'network.move_skipped', vplc: spec.name, parent },
        'parent interface has no IPv4 subnet now; endpoints stay where they are',
      );
      return [];
    }
    const multi = await engine.multiNetworkCreate();
    const conflicts: string[] = [];
    for (const { vnic, label } of vnics) {
      const facts = await engine.inspectContainer(spec.name);
      if (!facts) throw new Error(`the container of ${spec.name} no longer exists`);
      const target = targetSubnet(vnic, label, { subnet: host.subnet.trim(), gateway: host.gateway });
      const network = macvlanNetworkName(parent, target.subnet);
      const current = vnicNetwork(facts.networks, parent);
      const ip = staticAddress(vnic);
      const ipFits = ip === null || subnetContains(target.subnet, ip);
      if (current?.[0] !== network) {
        const mac =
          (current ? (this.kept.get(spec.name, current[0])?.mac ?? current[1].mac) : null) ??
          this.labelledMac(facts, vnic.name);
        if (current) this.kept.delete(spec.name, current[0]);
        await this.makeRoom(parent, network, target, spec.name, multi);
        if (current) await engine.disconnect(current[0], spec.name);
        await this.connect(spec.name, vnic, network, mac, ipFits ? ip : null, multi);
        this.deps.onMoved(spec.name);
        log.info(
          { step: 'network.moved', vplc: spec.name, vnic: vnic.name, from: current?.[0] ?? null, to: network },
          'moved vNIC to the network of the new subnet',
        );
        await this.removeStale(parent, network);
      }
      if (!ipFits && ip !== null) conflicts.push(staticIpConflict(spec.name, label, ip, target.subnet, parent));
      const key = `${spec.name}:${vnic.name}`;
      const before = this.macsBeforeMove.get(key);
      if (before !== undefined) {
        const now = await engine.inspectContainer(spec.name);
        const problem = now ? await this.keepMac(now, network, before, label) : null;
        if (problem) conflicts.push(problem);
        else if (now?.networks[network]?.mac) this.macsBeforeMove.delete(key);
      }
    }
    return conflicts;
  }

  /**
   * Make the vNIC on `network` have `mac` when Docker gave its endpoint another one. `null` when it has it
   * (or will get it when the stopped runtime starts); else the conflict sentence, naming why it could not be set.
   */
  private async keepMac(facts: ContainerFacts, network: string, mac: string, label?: string): Promise<string | null> {
    const { log } = this.deps;
    const wanted = normalizeMac(mac);
    const docker = facts.networks[network]?.mac ?? null;
    if (!facts.running || facts.pid === null || docker === null) {
      // Docker gives the endpoint its MAC when the runtime starts (API 1.45 shows the MAC asked for on connect while
      // the runtime is stopped, and then gives it another one at start); startContainer sets the kept one then.
      this.kept.set(facts.name, network, { mac: wanted, docker: null, pid: null });
      return null;
    }
    if (normalizeMac(docker) === wanted) {
      this.kept.delete(facts.name, network);
      return null;
    }
    const known = this.kept.get(facts.name, network);
    if (known?.mac === wanted && known.docker === normalizeMac(docker) && known.pid === facts.pid) return null;
    const vnic = label ?? network;
    if (!this.deps.setMac) {
      this.kept.delete(facts.name, network);
      return macReplacedConflict(facts.name, vnic, wanted, docker, 'this agent cannot reach a network monitor sidecar');
    }
    try {
      await this.deps.setMac(facts.pid, docker, wanted);
    } catch (err) {
      // Still remembered: a later start sets it when the sidecar is back.
      this.kept.set(facts.name, network, { mac: wanted, docker: null, pid: null });
      log.warn({ step: 'mac.keep_failed', vplc: facts.name, network, err: errorText(err) }, 'could not keep the MAC');
      return macReplacedConflict(facts.name, vnic, wanted, docker, errorText(err));
    }
    this.kept.set(facts.name, network, { mac: wanted, docker, pid: facts.pid });
    this.deps.onMoved(facts.name);
    log.info({ step: 'mac.kept', vplc: facts.name, network, mac: wanted, docker }, 'vNIC kept its MAC after the move');
    return null;
  }

  /** The MAC chosen at create (labels), for a vNIC that is attached nowhere at the moment. */
  private labelledMac(facts: ContainerFacts, vnic: string): string | null {
    return macsFromLabels(facts.labels)[vnic] ?? null;
  }

  /**
   * Make sure `network` exists. Docker allows one MACVLAN network per parent, so when another one holds the parent
   * it is emptied (every runtime disconnected), removed, the new one created, and every other runtime that was on it
   * connected to the new one (their own actors find them moved). Everything is checked before anything is changed.
   */
  private async makeRoom(
    parent: string,
    network: string,
    target: ResolvedSubnet,
    self: string,
    multi: boolean,
  ): Promise<void> {
    const { engine, log } = this.deps;
    if (await engine.findNetwork(network)) return;
    const olds = (await engine.networksByDriver('macvlan')).filter((n) => n.parent === parent && n.name !== network);
    const members: Member[] = [];
    for (const old of olds) {
      if (!this.ours(old)) {
        throw new Conflict(
          `parent interface ${parent} carries the MACVLAN network ${old.name}, which this agent did not create, and Docker allows one MACVLAN network per parent interface; remove that network by hand so ${network} can be created`,
        );
      }
      const names = new Set(Object.values(old.containers).map((c) => c.name));
      for (const listed of await engine.listContainers({ networks: [old.name] })) names.add(listed.name);
      for (const name of names) {
        const facts = await engine.inspectContainer(name);
        if (!facts) continue;
        if (name !== self && !isManagedRuntime(facts.labels) && !this.deps.isAdopted(name)) {
          throw new Conflict(
            `the MACVLAN network ${old.name} on ${parent} is also used by container ${name}, which this agent does not manage; disconnect it by hand so the network can move to the new subnet ${target.subnet}`,
          );
        }
        if (multi && (facts.networkMode === old.name || facts.networkMode === old.id)) {
          throw new Error(
            `container ${name} has ${old.name} as its primary network, and this Docker engine (API 1.44 or newer) cannot connect or start a container whose primary network was removed; nothing was changed and it stays on the old subnet; delete and create ${name} to place it on ${target.subnet}`,
          );
        }
        members.push({ name, facts, from: old.name });
      }
    }
    for (const m of members) await engine.disconnect(m.from, m.name);
    for (const old of olds) {
      const outcome = await engine.removeNetworkIfUnused(old.name, { ours: this.ours });
      if (outcome === 'in_use' || outcome === 'not_ours') {
        throw new Conflict(
          `network ${old.name} is still in use after every runtime was disconnected from it; retry the change of ${parent}`,
        );
      }
    }
    await engine.ensureMacvlanNetwork({ parent, subnet: target.subnet, gateway: target.gateway });
    for (const m of members) {
      if (m.name === self) continue;
      try {
        await this.reconnectOther(m, parent, network, target, multi);
      } catch (err) {
        // Its own actor moves it again when it runs; a stopped one moves when started.
        log.warn(
          { step: 'network.reconnect_failed', vplc: m.name, network, err: err instanceof Error ? err.message : err },
          'could not connect another runtime to the new network',
        );
      }
    }
  }

  private async reconnectOther(
    m: Member,
    parent: string,
    network: string,
    target: ResolvedSubnet,
    multi: boolean,
  ): Promise<void> {
    const spec = specFromLabels(m.name, m.facts.labels);
    const vnic = spec?.vnics.find((v) => v.parent_interface === parent);
    const endpoint = m.facts.networks[m.from];
    const mac =
      this.kept.get(m.name, m.from)?.mac ??
      endpoint?.mac ??
      (m.facts.networkMode === m.from ? m.facts.configuredMac : null) ??
      (vnic ? this.labelledMac(m.facts, vnic.name) : null);
    const ip = staticAddress(vnic);
    const fits = ip !== null && subnetContains(target.subnet, ip);
    this.kept.delete(m.name, m.from);
    if (vnic) {
      await this.connect(m.name, vnic, network, mac, fits ? ip : null, multi);
    } else {
      await this.deps.engine.connect(network, m.name, multi && mac ? { MacAddress: mac } : {});
    }
    if (mac) {
      const now = await this.deps.engine.inspectContainer(m.name);
      // Its own actor reports a failure when it next moves; here the log says it.
      const problem = now ? await this.keepMac(now, network, mac, vnic?.name) : null;
      if (problem) this.deps.log.warn({ step: 'mac.keep_failed', vplc: m.name, network, problem }, 'MAC changed');
    }
    this.deps.onMoved(m.name);
    this.deps.log.info(
      { step: 'network.moved', vplc: m.name, from: m.from, to: network },
      'moved another runtime on the same parent to the network of the new subnet',
    );
  }

  private async connect(
    vplc: string,
    vnic: VnicConfig,
    network: string,
    mac: string | null,
    ip: string | null,
    multi: boolean,
  ): Promise<void> {
    const { engine } = this.deps;
    const endpoint: NonNullable<Parameters<DockerEngine['connect']>[2]> = {};
    if (ip) endpoint.IPAMConfig = { IPv4Address: ip };
    if (mac && multi) endpoint.MacAddress = mac;
    await engine.connect(network, vplc, endpoint);
    if (vnic.network_mode === 'dhcp') this.deps.forgetLease(vplc, vnic.name);
    const key = `${vplc}:${vnic.name}`;
    if (mac && !this.macsBeforeMove.has(key)) this.macsBeforeMove.set(key, normalizeMac(mac));
  }

  /** MACVLAN networks left on the parent that nobody uses any more (ours by label, or the old agent's, proven). */
  private async removeStale(parent: string, keep: string): Promise<void> {
    const { engine, log } = this.deps;
    for (const net of await engine.networksByDriver('macvlan')) {
      if (net.parent !== parent || net.name === keep || !this.ours(net)) continue;
      const outcome = await engine.removeNetworkIfUnused(net.name, { ours: this.ours });
      log.debug({ step: 'network.cleanup', network: net.name, outcome }, 'old macvlan network cleanup');
    }
  }
}

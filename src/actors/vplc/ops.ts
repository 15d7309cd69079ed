import type { Logger } from 'pino';
import type { ContainerFacts, ContainerPlan, MacvlanEndpointPlan, NetworkFacts } from '../../io/docker/convert.js';
import { isOldAgentInternalNetwork, isOurInternalNetwork } from '../../io/docker/ownership.js';
import type { DockerEngine } from '../../io/docker/engine.js';
import { Conflict, EngineError, ImageMissing } from '../../io/docker/errors.js';
import { LABEL_RUNTIME_VERSION, LABEL_VNICS, isManagedRuntime, runtimeLabels } from '../../io/docker/labels.js';
import { internalNetworkName, macvlanNetworkName, runtimeImageOf, unknownMacvlanKey } from '../../model/names.js';
import {
  type InterfaceLookup,
  type ResolvedSubnet,
  SUBNET_WAIT_MS,
  resolveSubnet,
  undetectedSubnetMessage,
} from '../../io/docker/subnet.js';
import type { VplcOps } from '../../machines/vplc/ports.js';
import { isWifiVnic, type RuntimeUlimit, type VnicConfig, type VplcSpec } from '../../model/vplc.js';
import type { DedicatedNics } from '../network/dedicated.js';
import { stripPrefix, validateVplcSpec } from '../../machines/vplc/validate.js';
import { assertMacsFree, chooseMacs, type KeptMacs } from '../network/macs.js';
import { NetworkMover } from '../network/move.js';
import { errorText } from '../../model/errors.js';
import { KeyedLock, type LockMode } from './keyedLock.js';

export interface DhcpControl {
  start(spec: VplcSpec): Promise<void>;
  stop(spec: VplcSpec): Promise<void>;
  /** A vNIC moved to another subnet: its lease is void (LeaseBook.forget). */
  forgetLease?(vplc: string, vnic: string): void;
}

export interface VplcOpsDeps {
  /** The runtime's address on its internal network after every join (clients.json keeps it, as the old agent did). */
  onInternalAddress?: (name: string, ip: string | null) => void;
  engine: DockerEngine;
  /** `--runtime-image`: the image of vPLCs created without `runtime_version`, and the repository of the others. */
  image: string;
  /** `--runtime-ulimits` (may be empty). */
  ulimits: readonly RuntimeUlimit[];
  interfaces: InterfaceLookup;
  dhcp: DhcpControl;
  log: Logger;
  /**
   * Runtimes adopted from the old agent carry no labels; the supervisor knows them (clients.json). Only labelled or
   * adopted containers are ever stopped or removed, so a mistyped id cannot delete a foreign container.
   */
  isAdopted?: (name: string) => boolean;
  /**
   * The container adopted from the old agent under this name, by id (AdoptedRuntimes.ownsContainer). When given,
   * an unlabelled container is touched only when it is that very container; absent, `isAdopted` decides by name.
   */
  ownsAdoptedContainer?: (name: string, containerId: string) => boolean;
  /** Networks the old agent made (OldAgentFootprint.ownsNetwork); absent, only labelled networks are ours. */
  isOldAgentNetwork?: (net: NetworkFacts) => boolean;
  /**
   * Which host interfaces vNICs may sit on (ParentInterfaces): checked before anything is made. Absent (tests that
   * name their veth parents directly): any interface Docker accepts.
   */
  parentInterfaces?: { check(spec: VplcSpec): Promise<void> };
  /** Auto-detection wait per vNIC (3 s by default, docs/protocol.md#macvlan-networks). */
  subnetWaitMs?: number;
  /** A network move changed this runtime's networks (another runtime's too, when they share the parent). */
  onNetworksMoved?: (vplc: string) => void;
  /**
   * The sidecar's `set_mac`: a moved vNIC keeps its MAC (docs/decisions.md#a-moved-vnic-keeps-its-mac). Absent
   * (tests without a sidecar): a moved vNIC has Docker's MAC and the move reports it.
   */
  setMac?: (pid: number, currentMac: string, mac: string) => Promise<void>;
  /** The MACs moved vNICs really have (Docker's inspect shows its own); the agent reports from it. */
  keptMacs?: KeptMacs;
  /** Dedicated NICs (docs/protocol.md#dedicated-nics); absent (tests without a sidecar): a spec with one is refused. */
  dedicated?: DedicatedNics;
}

/**
 * The part of a spec that Docker networks carry: WiFi vNICs get no MACVLAN network (a WiFi parent cannot carry one);
 * the sidecar's Proxy-ARP bridge joins them (docs/protocol.md#wifi-vnics).
 */
function wired(spec: VplcSpec): VplcSpec {
  return spec.vnics.some(isWifiVnic) ? { ...spec, vnics: spec.vnics.filter((v) => !isWifiVnic(v)) } : spec;
}

/**
 * Lock key of a parent interface: Docker allows one MACVLAN network per parent, so creating, removing and moving
 * networks on the same parent must not interleave.
 */
function parentKeys(spec: VplcSpec, only?: readonly string[]): string[] {
  const parents = spec.vnics.map((v) => v.parent_interface).filter((p) => only === undefined || only.includes(p));
  return [...new Set(parents)].map((p) => `parent:${p}`);
}

/** Lock key for making a parent's MACVLAN network and choosing MACs on it: short, exclusive, creates only. */
const makeKey = (parent: string) => `make:${parent}`;

function vnicLabel(vnic: VnicConfig, index: number): string {
  return vnic.name.trim() === '' ? `unnamed_vnic_${index}` : vnic.name;
}

function dnsUnion(spec: VplcSpec): string[] {
  const seen = new Set<string>();
  for (const vnic of spec.vnics) for (const server of vnic.dns ?? []) if (server.trim()) seen.add(server.trim());
  return [...seen];
}

/** The VplcOps a vPLC machine invokes, on the real Docker engine and the sidecar's DHCP. */
export function createVplcOps(deps: VplcOpsDeps): VplcOps {
  const { engine, log } = deps;
  const lock = new KeyedLock();
  const waitMs = deps.subnetWaitMs ?? SUBNET_WAIT_MS;
  const isAdopted = deps.isAdopted ?? (() => false);
  /** An unlabelled container may be touched only when it is the one adopted from the old agent under that name. */
  const isAdoptedContainer = (facts: ContainerFacts): boolean =>
    deps.ownsAdoptedContainer ? deps.ownsAdoptedContainer(facts.name, facts.id) : isAdopted(facts.name);
  const mover = new NetworkMover({
    engine,
    interfaces: deps.interfaces,
    isAdopted,
    isOldAgentNetwork: deps.isOldAgentNetwork,
    forgetLease: (vplc, vnic) => deps.dhcp.forgetLease?.(vplc, vnic),
    onMoved: (vplc) => deps.onNetworksMoved?.(vplc),
    setMac: deps.setMac,
    keptMacs: deps.keptMacs,
    log,
  });

  /** Every vNIC's parent network, resolved concurrently (each may wait up to 3 s for the interface cache). */
  async function resolveAll(spec: VplcSpec, wait: number): Promise<Array<ResolvedSubnet | undefined>> {
    return Promise.all(spec.vnics.map((v, i) => resolveSubnet(v, vnicLabel(v, i), deps.interfaces, { waitMs: wait })));
  }

  /** Resolved networks, failing with the old agent's sentences: duplicates first, then undetected subnets. */
  async function networksOf(spec: VplcSpec): Promise<Array<ResolvedSubnet & { key: string }>> {
    const resolved = await resolveAll(spec, waitMs);
    const keys = spec.vnics.map((v, i) => {
      const r = resolved[i];
      return r ? macvlanNetworkName(v.parent_interface, r.subnet) : unknownMacvlanKey(v.parent_interface);
    });
    const firstByKey = new Map<string, number>();
    for (const [i, key] of keys.entries()) {
      const first = firstByKey.get(key);
      if (first !== undefined) {
        const a = vnicLabel(spec.vnics[first] as VnicConfig, first);
        const b = vnicLabel(spec.vnics[i] as VnicConfig, i);
        throw new Error(
          `Invalid vNIC configuration: vNICs '${a}' and '${b}' would connect to the same MACVLAN network (${key}). Docker only allows one endpoint per container per network. To use multiple IPs on the same physical network, consider using different subnets or a single vNIC with additional IP configuration.`,
        );
      }
      firstByKey.set(key, i);
    }
    return spec.vnics.map((v, i) => {
      const r = resolved[i];
      if (!r) throw new Error(undetectedSubnetMessage(v.parent_interface));
      return { ...r, key: keys[i] as string };
    });
  }

  /** Refuse a name held by a container that is not one of our runtimes; that container is never touched. */
  async function assertNameFree(spec: VplcSpec): Promise<void> {
    const existing = await engine.inspectContainer(spec.name);
    if (!existing) return;
    if (!isManagedRuntime(existing.labels) && !isAdoptedContainer(existing)) {
      throw new Conflict(
        `A container named ${spec.name} already exists on this host and is not a runtime managed by this agent; choose another container_name or remove that container by hand.`,
      );
    }
  }

  /** Refuse to touch a container this agent does not manage. `undefined` when it does not exist. */
  async function ownedContainer(name: string, verb: string): Promise<'present' | 'absent'> {
    const facts = await engine.inspectContainer(name);
    if (!facts) return 'absent';
    if (!isManagedRuntime(facts.labels) && !isAdoptedContainer(facts)) {
      throw new Conflict(`Container ${name} is not managed by this agent; refusing to ${verb} it.`);
    }
    return 'present';
  }

  /** Called holding the runtime's networks (see `createLocks`); a parent's MACVLAN network is made by one at a time. */
  async function ensureNetworks(spec: VplcSpec): Promise<string[]> {
    const networks = await networksOf(spec);
    await engine.ensureInternalNetwork(spec.name, { oldAgentRuntime: isAdopted(spec.name) });
    const names: string[] = [];
    for (const [i, vnic] of spec.vnics.entries()) {
      const net = networks[i] as ResolvedSubnet;
      const made = await lock.exclusive([makeKey(vnic.parent_interface)], () =>
        engine.ensureMacvlanNetwork({ parent: vnic.parent_interface, subnet: net.subnet, gateway: net.gateway }),
      );
      names.push(made.name);
    }
    return names;
  }

  /**
   * MACs chosen by creates of this agent, by parent: Docker knows a MAC only once its container exists, so two
   * creates side by side must not both take it meanwhile (a generated one, or the same requested one). Engine state
   * is read before taking the parent's lock, side by side with the other creates; only the choice is made one at a
   * time. A read may therefore miss a container made meanwhile, so a reservation is kept (released, with the tick it
   * was released at) until no read that began before its container existed is still to be used.
   */
  interface MacReservation {
    parent: string;
    mac: string;
    holder: string;
    releasedAt: number | null;
  }
  const reservations = new Set<MacReservation>();
  /** Orders reads of the engine and releases of reservations. */
  let tick = 0;
  /** Ticks at which reads still to be used began. */
  const readsInUse = new Map<symbol, number>();

  function forgetOldReservations(): void {
    const oldestRead = Math.min(...readsInUse.values());
    for (const r of reservations) if (r.releasedAt !== null && r.releasedAt < oldestRead) reservations.delete(r);
  }

  /** Chooses this runtime's MACs and holds them until `release` (once its container exists, or failed to). */
  async function reserveMacs(spec: VplcSpec): Promise<{ macs: string[]; release: () => void }> {
    const parents = [...new Set(spec.vnics.map((v) => v.parent_interface))];
    const read = Symbol(spec.name);
    const readAt = ++tick;
    readsInUse.set(read, readAt);
    try {
      const seen = new Map(
        await Promise.all(
          parents.map(async (p) => [p, await engine.macsInUse(p, spec.name)] as [string, Map<string, string>]),
        ),
      );
      const view = {
        async macsInUse(parent: string, excludeContainer?: string): Promise<Map<string, string>> {
          const used = new Map(seen.get(parent) ?? (await engine.macsInUse(parent, excludeContainer)));
          for (const r of reservations) {
            const missedByRead = r.releasedAt === null || r.releasedAt > readAt;
            if (r.parent === parent && r.holder !== excludeContainer && missedByRead) used.set(r.mac, r.holder);
          }
          return used;
        },
      };
      return await lock.exclusive(parents.map(makeKey), async () => {
        // A requested MAC was checked in `prepare`; a create running beside this one may have taken it since.
        await assertMacsFree(view, spec);
        const macs = await chooseMacs(view, spec);
        const mine: MacReservation[] = spec.vnics.map((v, i) => ({
          parent: v.parent_interface,
          mac: macs[i] as string,
          holder: spec.name,
          releasedAt: null,
        }));
        for (const r of mine) reservations.add(r);
        const release = () => {
          const at = ++tick;
          for (const r of mine) r.releasedAt ??= at;
          forgetOldReservations();
        };
        return { macs, release };
      });
    } finally {
      readsInUse.delete(read);
      forgetOldReservations();
    }
  }

  /**
   * What a create step holds: its own internal network exclusive, its MACVLAN networks and parents shared. Creates
   * on one parent therefore run side by side; a delete or a move on that parent waits for them, and they for it.
   */
  async function createLocks(spec: VplcSpec): Promise<Array<{ key: string; mode: LockMode }>> {
    return [
      { key: internalNetworkName(spec.name), mode: 'exclusive' },
      ...[...(await macvlanKeys(spec)), ...parentKeys(spec)].map((key) => ({ key, mode: 'shared' as const })),
    ];
  }

  async function macvlanKeys(spec: VplcSpec): Promise<string[]> {
    const resolved = await resolveAll(spec, 0);
    return spec.vnics.flatMap((v, i) => {
      const r = resolved[i];
      return r ? [macvlanNetworkName(v.parent_interface, r.subnet)] : [];
    });
  }

  /**
   * The vPLC's image, pulled or found locally. A `runtime_version` that is neither fails with the old agent's sentence
   * (docs/protocol.md#runtime-image), followed by why the pull failed and what to do.
   */
  async function ensureRuntimeImage(spec: VplcSpec): Promise<void> {
    const image = runtimeImageOf(deps.image, spec.runtimeVersion);
    log.info({ step: 'image.ensure', vplc: spec.name, image }, 'making sure the runtime image is on this host');
    try {
      await engine.ensureImage(image);
    } catch (err) {
      if (!(err instanceof ImageMissing) || spec.runtimeVersion === undefined) throw err;
      throw new ImageMissing(
        `Runtime version '${spec.runtimeVersion}' not found. The image ${image} does not exist in the registry or locally. Pulling it failed (${err.engineMessage ?? err.message}); send a runtime_version that exists, or load that image on the host (docker load / docker pull).`,
        { engineMessage: err.engineMessage },
      );
    }
  }

  function dedicatedNics(spec: VplcSpec): DedicatedNics | undefined {
    if (spec.dedicatedInterface !== undefined && !deps.dedicated) {
      throw new Error(
        `vPLC ${spec.name} asks for the dedicated NIC ${spec.dedicatedInterface}, and this agent has no network monitor sidecar to move it; start the agent with the sidecar`,
      );
    }
    return deps.dedicated;
  }

  return {
    async prepare(full) {
      const problem = validateVplcSpec(full);
      if (problem) throw new Error(problem);
      await deps.parentInterfaces?.check(full);
      await dedicatedNics(full)?.check(full);
      const spec = wired(full);
      await assertNameFree(spec);
      // A `<name>_internal` that is not ours (a compose project's, say) fails the create before anything is made.
      const internal = await engine.internalNetworkProblem(spec.name, { oldAgentRuntime: isAdopted(spec.name) });
      if (internal.problem) throw new Conflict(internal.problem);
      await networksOf(spec);
      await assertMacsFree(engine, spec);
      await ensureRuntimeImage(spec);
    },

    async createNetworks(full) {
      const spec = wired(full);
      await lock.with(await createLocks(spec), () => ensureNetworks(spec));
    },

    async createContainer(full) {
      const spec = wired(full);
      return lock.with(await createLocks(spec), async () => {
        const existing = await engine.inspectContainer(spec.name);
        if (existing) {
          const wanted = runtimeLabels(full);
          const sameSpec =
            existing.labels[LABEL_VNICS] === wanted[LABEL_VNICS] &&
            existing.labels[LABEL_RUNTIME_VERSION] === wanted[LABEL_RUNTIME_VERSION];
          if (!isManagedRuntime(existing.labels) || !sameSpec) {
            throw new Conflict(
              `A container named ${spec.name} already exists with a different configuration; delete it before creating it again.`,
            );
          }
          // A repeated create (restored snapshot): the container is there; make sure the networks are too.
          const names = await ensureNetworks(spec);
          for (const network of [...names, internalNetworkName(spec.name)]) {
            if (!existing.networks[network]) await engine.connect(network, existing.id);
          }
          return { containerId: existing.id };
        }
        // Re-ensured under the lock: a concurrent delete of another runtime may have removed a shared network.
        const names = await ensureNetworks(spec);
        const { macs, release } = await reserveMacs(spec);
        try {
          const macvlans: MacvlanEndpointPlan[] = [];
          for (const [i, vnic] of spec.vnics.entries()) {
            const endpoint: MacvlanEndpointPlan = { network: names[i] as string, mac: macs[i] as string };
            if (vnic.network_mode === 'static' && vnic.ip) endpoint.ipv4 = stripPrefix(vnic.ip);
            macvlans.push(endpoint);
          }
          if (!(await engine.multiNetworkCreate())) {
            const unhonoured = spec.vnics.slice(1).filter((v) => v.mac);
            if (unhonoured.length > 0) {
              log.warn(
                { step: 'container.mac_not_settable', vplc: spec.name, vnics: unhonoured.map((v) => v.name) },
                'Docker API < 1.44 cannot set the MAC of a second network; Docker assigns it (reported in get_device_status)',
              );
            }
          }
          const plan: ContainerPlan = {
            name: spec.name,
            image: runtimeImageOf(deps.image, spec.runtimeVersion),
            labels: runtimeLabels(
              full,
              Object.fromEntries(spec.vnics.map((v, i) => [v.name, (macvlans[i] as MacvlanEndpointPlan).mac])),
            ),
            macvlans,
            internalNetwork: internalNetworkName(spec.name),
            dns: dnsUnion(full),
            ulimits: [...deps.ulimits],
            dedicatedNic: full.dedicatedInterface !== undefined,
          };
          return await engine.createContainer(plan);
        } finally {
          release();
        }
      });
    },

    async startContainer(name) {
      try {
        await engine.startContainer(name);
      } catch (err) {
        if (err instanceof EngineError) {
          throw Object.assign(err, { message: `Could not start vPLC ${name}: ${err.message}` });
        }
        throw err;
      }
      // Docker recreated the endpoints with its own MACs: a moved vNIC gets its kept MAC back before DHCP starts.
      await mover.reapplyKeptMacs(name);
      const facts = await engine.inspectContainer(name);
      if (!facts) throw new Error(`vPLC ${name} disappeared right after it was started; create it again.`);
      if (!facts.running || !facts.startedAt) {
        const code = facts.exitCode === null ? '' : ` with exit code ${facts.exitCode}`;
        throw new Error(
          `vPLC ${name} stopped right after it was started${code}${facts.oomKilled ? ' (out of memory)' : ''}; check the runtime's logs.`,
        );
      }
      return { containerId: facts.id, startedAt: facts.startedAt };
    },

    async attachAgent(name) {
      try {
        await engine.joinInternal(name, { oldAgentRuntime: isAdopted(name) });
      } catch (err) {
        // Like the old agent, a failed join does not undo a running PLC; run_command cannot reach it until the
        // next reconciliation re-joins, and the warning says so.
        log.warn(
          { step: 'agent.join_failed', vplc: name, err: errorText(err) },
          'could not join the runtime internal network; run_command will not reach it',
        );
      }
      const facts = await engine.inspectContainer(name);
      deps.onInternalAddress?.(name, facts?.internalIp ?? null);
    },

    async startDhcp(spec) {
      if (!spec.vnics.some((v) => v.network_mode === 'dhcp' || isWifiVnic(v))) return;
      await deps.dhcp.start(spec);
    },

    async dedicateNic(spec) {
      await dedicatedNics(spec)?.moveIn(spec);
    },

    async returnNic(spec) {
      await deps.dedicated?.giveBack(spec);
    },

    async stopDhcp(spec) {
      if (!spec.vnics.some((v) => v.network_mode === 'dhcp' || isWifiVnic(v))) return;
      await deps.dhcp.stop(spec);
    },

    async stopContainer(name) {
      if ((await ownedContainer(name, 'stop')) === 'absent') return;
      await engine.stopContainer(name);
    },

    async removeContainer(name) {
      if ((await ownedContainer(name, 'remove')) === 'absent') return;
      await engine.removeContainer(name);
    },

    async removeNetworks(full) {
      const spec = wired(full);
      // The runtime is gone for good: its dedicated NIC's entry goes (its port went home with its namespace).
      await deps.dedicated?.forget(spec.name);
      const internal = internalNetworkName(spec.name);
      const candidates = new Set(await macvlanKeys(spec));
      // Networks of this runtime's parents that we made and nobody uses any more (e.g. after a subnet change).
      const parents = new Set(spec.vnics.map((v) => v.parent_interface));
      for (const net of await engine.networksByDriver('macvlan')) {
        if (net.managed && net.parent !== null && parents.has(net.parent)) candidates.add(net.name);
      }
      mover.forget(spec.name);
      // Leases belong to this incarnation: a runtime created again under the same name must not show them.
      for (const vnic of full.vnics) deps.dhcp.forgetLease?.(spec.name, vnic.name);
      await lock.exclusive([internal, ...candidates, ...parentKeys(spec)], async () => {
        if (await engine.inspectContainer(spec.name)) {
          throw new Conflict(`Container ${spec.name} still exists; remove it before its networks.`);
        }
        // `<name>_internal` is removed when it is this runtime's own: ours by its labels, or the old agent's
        // unlabelled bridge of a runtime adopted from it. Someone else's network of that name is left as it is.
        const ownInternal = (net: NetworkFacts) =>
          isOurInternalNetwork(net, spec.name) || (isAdopted(spec.name) && isOldAgentInternalNetwork(net, spec.name));
        const internalNet = await engine.findNetwork(internal);
        if (internalNet && !ownInternal(internalNet)) {
          log.warn(
            { step: 'network.not_ours', vplc: spec.name, network: internal },
            'a network with the name of the runtime internal network is not ours; left alone',
          );
        } else if (internalNet) {
          await engine.leaveInternal(spec.name);
          const outcome = await engine.removeNetworkIfUnused(internal, { ours: ownInternal });
          if (outcome === 'in_use') {
            throw new Conflict(
              `Network ${internal} is still used by another container; disconnect it and delete vPLC ${spec.name} again.`,
            );
          }
        }
        for (const name of candidates) {
          const result = await engine.removeNetworkIfUnused(name, { requireOwned: true });
          log.debug({ step: 'network.cleanup', network: name, result }, 'macvlan network cleanup');
        }
      });
    },

    async moveNetworks({ spec: full, parentInterfaces }) {
      const spec = wired(full);
      const parents = [...new Set(parentInterfaces)].filter((p) => spec.vnics.some((v) => v.parent_interface === p));
      if (parents.length === 0) return { conflicts: [] };
      return lock.exclusive(parentKeys(spec, parents), async () => {
        const conflicts: string[] = [];
        for (const parent of parents) conflicts.push(...(await mover.move(spec, parent)));
        return { conflicts };
      });
    },
  };
}

import type Dockerode from 'dockerode';
import { LABEL_ROLE, type Labels, isManaged } from './labels.js';
import type { ContainerFacts, ContainerNetworkFacts } from '../../model/facts.js';
import type { RuntimeUlimit } from '../../model/vplc.js';

export type { ContainerFacts, ContainerNetworkFacts } from '../../model/facts.js';

/**
 * The ONE place that converts between our model and the engine's JSON: container create options (per API level)
 * and the facts we read back from `inspect`.
 */

/** One MACVLAN endpoint of a runtime container. */
export interface MacvlanEndpointPlan {
  network: string;
  mac: string;
  /** Static IPv4 without prefix (only for `static` vNICs). */
  ipv4?: string;
}

/** Everything needed to create a runtime container, already resolved (networks exist, MACs chosen). */
export interface ContainerPlan {
  name: string;
  image: string;
  labels: Labels;
  /** In vNIC order; before API 1.44 the first becomes the container's primary network. At least one. */
  macvlans: MacvlanEndpointPlan[];
  /** `<name>_internal`. */
  internalNetwork: string;
  dns: string[];
  ulimits: RuntimeUlimit[];
  /** A dedicated NIC is moved in after start: the runtime then needs NET_RAW and NET_ADMIN on it (as the old agent). */
  dedicatedNic?: boolean;
}

/** A network the container must join between create and start (API < 1.44 only). */
export interface PendingConnect {
  network: string;
  endpoint: Dockerode.EndpointSettings;
}

export interface CreateRequest {
  options: Dockerode.ContainerCreateOptions;
  connectBeforeStart: PendingConnect[];
}

/**
 * Runtime devices: USB serial adapters (ttyUSB, major 188) and ACM modems (ttyACM, major 166), so nodes created
 * later by serial passthrough are usable. The old agent also allowed `c 4:* rmw` (virtual consoles tty0–63): with
 * MKNOD that lets a runtime open the host's consoles, and no PLC needs it, so it is dropped.
 */
export const DEVICE_CGROUP_RULES = ['c 188:* rmw', 'c 166:* rmw'];

/** SYS_NICE for real-time scheduling of the PLC scan cycle; MKNOD to create serial device nodes inside the runtime. */
export const CAP_ADD = ['SYS_NICE', 'MKNOD'];
/** Raw frames (EtherCAT, PROFINET) and configuring the port, for a runtime with a dedicated NIC. */
export const DEDICATED_NIC_CAP_ADD = ['NET_RAW', 'NET_ADMIN'];

function endpointFor(mv: MacvlanEndpointPlan, withMac: boolean): Dockerode.EndpointSettings {
  const endpoint: Dockerode.EndpointSettings = {};
  if (mv.ipv4) endpoint.IPAMConfig = { IPv4Address: mv.ipv4 };
  if (withMac) endpoint.MacAddress = mv.mac;
  return endpoint;
}

/**
 * Create options for `plan`.
 *
 * API >= 1.44 takes every endpoint in the create call, each with its own `MacAddress`. The primary network
 * (`NetworkMode`) is then the `<name>_internal` bridge, as the old agent does: that engine cannot connect,
 * start or restart a container whose primary network was removed, and a MACVLAN network is removed whenever its
 * parent interface moves to another subnet (actors/network/move.ts), while the internal bridge lives as long as the runtime.
 * API 1.41 takes one network at create and ignores `EndpointSettings.MacAddress`: the first MACVLAN becomes the
 * primary network with the container-level `MacAddress`, and the other networks are connected before start (their
 * MACs cannot be chosen; Docker assigns them and we record what it reports).
 */
export function toCreateOptions(plan: ContainerPlan, api: { multiNetworkCreate: boolean }): CreateRequest {
  const [primary, ...others] = plan.macvlans;

  const hostConfig: Dockerode.HostConfig = {
    // Without a MACVLAN vNIC (WiFi vNICs only, or a dedicated NIC only) the internal bridge is the primary network.
    NetworkMode: api.multiNetworkCreate || !primary ? plan.internalNetwork : primary.network,
    // The vPLC machine owns restarts (backoff, restart budget, `failed` state); a Docker restart policy would
    // restart behind its back and hide crash loops from it.
    RestartPolicy: { Name: 'no' },
    CapAdd: [...CAP_ADD, ...(plan.dedicatedNic ? DEDICATED_NIC_CAP_ADD : [])],
    DeviceCgroupRules: [...DEVICE_CGROUP_RULES],
    Ulimits: plan.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
  };
  if (plan.dns.length > 0) hostConfig.Dns = [...plan.dns];

  const options: Dockerode.ContainerCreateOptions = {
    name: plan.name,
    Image: plan.image,
    Labels: { ...plan.labels },
    HostConfig: hostConfig,
  };

  if (api.multiNetworkCreate || !primary) {
    const endpoints: Record<string, Dockerode.EndpointSettings> = {};
    for (const mv of plan.macvlans) endpoints[mv.network] = endpointFor(mv, true);
    endpoints[plan.internalNetwork] = {};
    options.NetworkingConfig = { EndpointsConfig: endpoints };
    return { options, connectBeforeStart: [] };
  }

  options.MacAddress = primary.mac;
  options.NetworkingConfig = { EndpointsConfig: { [primary.network]: endpointFor(primary, false) } };
  return {
    options,
    connectBeforeStart: [
      ...others.map((mv) => ({ network: mv.network, endpoint: endpointFor(mv, false) })),
      { network: plan.internalNetwork, endpoint: {} },
    ],
  };
}

/** Docker reports "never" as `0001-01-01T00:00:00Z`. */
function dockerTime(value: string | undefined | null): string | null {
  if (!value || value.startsWith('0001-01-01')) return null;
  return value;
}

function nonEmpty(value: string | undefined | null): string | null {
  return value ? value : null;
}

export function fromInspect(info: Dockerode.ContainerInspectInfo, internalNetwork?: string): ContainerFacts {
  const name = info.Name.replace(/^\//, '');
  const labels = info.Config?.Labels ?? {};
  const running = info.State?.Running === true;
  // Keyed by network names Docker reports, which need not be ours: without a prototype, a network called
  // `__proto__` or `constructor` is a key like any other.
  const networks = Object.create(null) as Record<string, ContainerNetworkFacts>;
  for (const [netName, net] of Object.entries(info.NetworkSettings?.Networks ?? {})) {
    networks[netName] = { ip: nonEmpty(net.IPAddress), mac: nonEmpty(net.MacAddress), gateway: nonEmpty(net.Gateway) };
  }
  const internalName = internalNetwork ?? `${name}_internal`;
  const hostConfig = info.HostConfig ?? {};
  return {
    id: info.Id,
    name,
    labels,
    managed: isManaged(labels),
    role: labels[LABEL_ROLE] ?? null,
    image: info.Config?.Image ?? info.Image,
    status: info.State?.Status ?? 'unknown',
    running,
    exitCode: running || info.State === undefined ? null : info.State.ExitCode,
    oomKilled: info.State?.OOMKilled === true,
    startedAt: dockerTime(info.State?.StartedAt),
    finishedAt: dockerTime(info.State?.FinishedAt),
    restartCount: typeof info.RestartCount === 'number' ? info.RestartCount : 0,
    health: info.State?.Health?.Status ?? null,
    pid: info.State?.Pid ? info.State.Pid : null,
    networks,
    internalIp: networks[internalName]?.ip ?? null,
    networkMode: nonEmpty(hostConfig.NetworkMode),
    configuredMac: nonEmpty((info.Config as { MacAddress?: string } | undefined)?.MacAddress),
    capAdd: [...(hostConfig.CapAdd ?? [])],
    memoryLimitBytes: hostConfig.Memory ?? 0,
    nanoCpus: hostConfig.NanoCpus ?? 0,
    cpuQuota: hostConfig.CpuQuota ?? 0,
    cpuPeriod: hostConfig.CpuPeriod ?? 0,
  };
}

/** A network as we read it back. */
export interface NetworkFacts {
  id: string;
  name: string;
  driver: string;
  internal: boolean;
  labels: Labels;
  managed: boolean;
  parent: string | null;
  subnets: string[];
  /** Attached containers: id → name and MAC. Only filled by an inspect (lists leave it empty). */
  containers: Record<string, { name: string; mac: string | null }>;
}

export function fromNetworkInspect(info: Dockerode.NetworkInspectInfo): NetworkFacts {
  const labels = (info.Labels ?? {}) as Labels;
  const containers = Object.create(null) as NetworkFacts['containers'];
  for (const [id, c] of Object.entries(info.Containers ?? {})) {
    containers[id] = { name: c.Name, mac: nonEmpty(c.MacAddress) };
  }
  return {
    id: info.Id,
    name: info.Name,
    driver: info.Driver,
    internal: info.Internal === true,
    labels,
    managed: isManaged(labels),
    parent: info.Options?.parent ?? null,
    subnets: (info.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => typeof s === 'string'),
    containers,
  };
}

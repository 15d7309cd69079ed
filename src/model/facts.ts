/**
 * Facts: what the outside world tells the agent about a vPLC. The Docker adapter reads `ContainerFacts`, the container
 * watch keeps them as `ObservedContainer` (so status requests need no Docker round trip), and the lifecycle machines
 * hear `VplcFact` events. One definition each, shared by io, actors and machines.
 */

/** One network as a runtime sees it (values as Docker reports them; `null` when empty). */
export interface ContainerNetworkFacts {
  ip: string | null;
  mac: string | null;
  gateway: string | null;
}

/** What the engine's `inspect` says of a container, in our words. */
export interface ContainerFacts {
  id: string;
  name: string;
  labels: Record<string, string>;
  managed: boolean;
  role: string | null;
  image: string;
  /** Docker `State.Status` (`created|running|paused|restarting|removing|exited|dead`). */
  status: string;
  running: boolean;
  exitCode: number | null;
  oomKilled: boolean;
  /** ISO; `null` when never started. */
  startedAt: string | null;
  finishedAt: string | null;
  /** Docker's top-level `RestartCount` (the old agent read `State.RestartCount`, which does not exist). */
  restartCount: number;
  health: string | null;
  pid: number | null;
  /** Every attached network by name. */
  networks: Record<string, ContainerNetworkFacts>;
  /** Address on `<name>_internal`, if attached. */
  internalIp: string | null;
  /** `HostConfig.NetworkMode`: the primary network. */
  networkMode: string | null;
  /** Container-level `Config.MacAddress` (the primary network's MAC before API 1.44). */
  configuredMac: string | null;
  /** `HostConfig.CapAdd` as the engine reports it (`SYS_NICE` on API 1.41, `CAP_SYS_NICE` on newer engines). */
  capAdd: string[];
  /** Limits for `get_consumption_device` (0 = no limit). */
  memoryLimitBytes: number;
  nanoCpus: number;
  cpuQuota: number;
  cpuPeriod: number;
}

/** A runtime's container as the watch last observed it. */
export interface ObservedContainer extends ContainerFacts {
  /** When this was read (ISO). */
  observedAt: string;
}

/** Facts about a vPLC's container, from the engine's event stream or the watch's periodic diff. */
export type ContainerFact =
  | { type: 'container.started'; containerId: string; startedAt: string }
  | { type: 'container.died'; exitCode: number | null; oomKilled: boolean; at: string }
  | { type: 'container.removed' };

/** Facts about a vPLC's network, from the sidecar. */
export type NetworkFact =
  | { type: 'network.changed'; parentInterface: string }
  | { type: 'dhcp.lease'; vnicName: string; ip: string; gateway: string | null };

/** Every fact a vPLC actor can be told. */
export type VplcFact = ContainerFact | NetworkFact;

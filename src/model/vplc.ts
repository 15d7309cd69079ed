/**
 * The domain model of one vPLC as the cloud describes it in `create_new_runtime` (docs/protocol.md#create_new_runtime).
 *
 * Field names stay in the wire's snake_case on purpose: `runtime_vnics.json` must keep every vNIC object exactly as
 * received (the old agent reads that file too), so the same object travels from the cloud to the machines, the Docker
 * labels and the files without a lossy translation in between.
 */

/**
 * How many vPLCs one agent supervises unless `--max-vplcs` says otherwise: sized for the edge PCs the agent runs on
 * (2–8 cores, 4–16 GB), where an OpenPLC runtime takes 50–150 MB and a share of a core for its scan cycle; see
 * docs/decisions.md#the-number-of-vplcs-is-capped.
 */
export const DEFAULT_MAX_VPLCS = 64;

/** Where `<name>_internal` networks take their subnets: `size`-bit subnets of `base`. */
export interface InternalSubnetPool {
  /** CIDR, e.g. `172.31.0.0/16`. */
  base: string;
  /** Prefix length of each internal network, e.g. 28 (14 addresses: gateway, runtime, agent and room to spare). */
  size: number;
}

/**
 * The default pool: the top of Docker's own default range (172.17–172.31), which Docker hands out last, split into
 * /28s: 4096 networks, far more than DEFAULT_MAX_VPLCS. See docs/decisions.md#internal-networks-are-small-and-come-from-a-pool-of-our-own.
 */
export const DEFAULT_INTERNAL_SUBNET_POOL: InternalSubnetPool = { base: '172.31.0.0/16', size: 28 };

/**
 * How a vNIC reaches its parent, as the old agent records it in `_network_method`: a MACVLAN endpoint, or, on a WiFi
 * parent (which cannot carry MACVLAN), a Proxy-ARP bridge the sidecar builds (docs/protocol.md#wifi-vnics).
 */
export function isWifiVnic(vnic: VnicConfig): boolean {
  return vnic._network_method === 'proxy_arp' || vnic._is_wifi === true;
}

/** One virtual NIC of a runtime: a MACVLAN endpoint on a host parent interface. */
export interface VnicConfig {
  name: string;
  parent_interface: string;
  /** `static` (fixed IP), `dhcp` (lease requested from the sidecar); anything else gets neither. */
  network_mode: string;
  ip?: string | null;
  /** Parent network's subnet, CIDR or dotted netmask. */
  subnet?: string | null;
  /** Parent network's gateway. */
  gateway?: string | null;
  dns?: string[] | null;
  /** Requested MAC; generated (locally administered unicast) when absent. */
  mac?: string | null;
  /** Unknown keys are kept verbatim, as `runtime_vnics.json` must store them. */
  readonly [extra: string]: unknown;
}

/** A serial device passed through into the runtime. */
export interface SerialConfig {
  name: string;
  /** `/dev/serial/by-id/...` path or its basename. */
  device_id: string;
  /** Device node path inside the runtime, e.g. `/dev/modbus0`. */
  container_path: string;
  baud_rate?: number | null;
  readonly [extra: string]: unknown;
}

/** Everything needed to (re)create a runtime from nothing. */
export interface VplcSpec {
  /** Container name; also the device id the cloud uses. */
  name: string;
  vnics: VnicConfig[];
  serials: SerialConfig[];
  /**
   * `runtime_version`: the tag of the runtime image, on the repository of `--runtime-image`. Absent: the tag of
   * `--runtime-image` itself (latest by default). Kept as a label of the container (docs/protocol.md#labels).
   */
  runtimeVersion?: string;
  /**
   * A host network port moved into the runtime's network namespace for its exclusive use (`dedicated_interface`,
   * docs/protocol.md#dedicated-nics); absent when none.
   */
  dedicatedInterface?: string;
}

/** Why a container stopped, as the engine reported it. */
export interface ContainerExit {
  exitCode: number | null;
  oomKilled: boolean;
  /** ISO time the engine reported the exit (or when we noticed it). */
  at: string;
}

/** One container ulimit as `--runtime-ulimits` gives it; -1 means unlimited. */
export interface RuntimeUlimit {
  name: string;
  soft: number;
  hard: number;
}

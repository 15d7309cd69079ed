import type { VplcSpec } from '../../model/vplc.js';

/**
 * What a vPLC machine asks of the outside world. The machine invokes each operation as a named actor;
 * `src/actors` provides the real implementation (Docker engine, sidecar) and tests provide fakes.
 *
 * Contract for every implementation:
 * - Idempotent: XState re-runs an in-flight promise when a persisted snapshot is restored, and boot
 *   reconciliation repeats interrupted steps, so calling an operation twice must be harmless
 *   (create-if-missing, remove-if-present).
 * - Bounded: every operation finishes or rejects within its own timeout.
 * - Rejects with an `Error` whose message is a sentence a plant engineer can act on
 *   (it reaches the cloud through get_device_status and the operation's reply event).
 */
export interface VplcOps {
  /** Validate the vNICs against the host (subnet resolution, duplicate networks, MACs in use) and make sure
   *  the runtime image is present (pull when a registry answers, else the local image). */
  prepare(spec: VplcSpec): Promise<void>;
  /** Create (or reuse) the `<name>_internal` bridge and the MACVLAN networks of every vNIC. */
  createNetworks(spec: VplcSpec): Promise<void>;
  /** Create the container with every network attached, not started. Returns the engine's container id. */
  createContainer(spec: VplcSpec): Promise<{ containerId: string }>;
  /** Start the container; resolves once the engine reports it running. */
  startContainer(name: string): Promise<{ containerId: string; startedAt: string }>;
  /** Join the agent to `<name>_internal` (when it runs in a container), so run_command can reach the runtime. */
  attachAgent(name: string): Promise<void>;
  /** Ask the sidecar for DHCP leases on the vNICs in `dhcp` mode. Resolves when every request was answered. */
  startDhcp(spec: VplcSpec): Promise<void>;
  /**
   * Move the spec's dedicated NIC into the running runtime's network namespace (docs/protocol.md#dedicated-nics):
   * recorded in dedicated_nics.json first, then moved unless it is already inside. Resolves at once without one.
   */
  dedicateNic(spec: VplcSpec): Promise<void>;
  /** Give the dedicated NIC back to the host before the runtime stops; resolves when it is there (or none is set). */
  returnNic(spec: VplcSpec): Promise<void>;
  /** Stop DHCP clients of this runtime (before stop/delete). Never rejects when nothing runs. */
  stopDhcp(spec: VplcSpec): Promise<void>;
  /** Stop the container (engine timeout 10 s, then kill). Resolves if it is already stopped. */
  stopContainer(name: string): Promise<void>;
  /** Remove the container (force). Resolves if it does not exist. */
  removeContainer(name: string): Promise<void>;
  /** Remove `<name>_internal` and every MACVLAN network of this spec that no other container uses. */
  removeNetworks(spec: VplcSpec): Promise<void>;
  /**
   * A parent interface changed subnet (docs/protocol.md#subnet-changes): move the MACVLAN endpoint of every vNIC on these parents to the
   * network of the parent's current subnet (creating it, removing the old one once unused), keeping the vNIC's MAC
   * where the engine can and its static IP only when it lies inside the new subnet. Resolves with `conflicts`:
   * sentences about what could not be kept (a static IP outside the new subnet, a MAC the engine replaced), for
   * get_device_status. Rejects when the endpoint could not be moved. A no-op for vNICs already on the right network.
   */
  moveNetworks(request: NetworkMoveRequest): Promise<NetworkMoveResult>;
}

export interface NetworkMoveRequest {
  spec: VplcSpec;
  /** Host interfaces whose subnet changed; vNICs on other parents are left alone. */
  parentInterfaces: string[];
}

export interface NetworkMoveResult {
  conflicts: string[];
}

export type VplcOpName = keyof VplcOps;

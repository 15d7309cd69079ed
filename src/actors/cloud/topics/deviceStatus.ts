import { isoLocal } from '../../../model/time.js';
import type {
  DeviceContainerStatus,
  DeviceLifecycleFields,
  DeviceNetworkStatus,
  DeviceNotFound,
  DeviceOperationStatus,
  DeviceSerialPortStatus,
  GetDeviceStatusResult,
} from '../../../io/cloud/topics/index.js';
import type { ObservedContainer } from '../../vplc/containerWatch.js';
import type { LeaseBook } from '../../network/leases.js';
import { isWifiVnic, type SerialConfig } from '../../../model/vplc.js';
import { stripPrefix } from '../../../machines/vplc/validate.js';
import type { SerialPortState } from '../../serial/passthrough.js';
import type { VplcStatus } from '../../vplc/supervisor.js';
import { macvlanParentOf, runtimeOfInternalNetwork } from '../../../model/names.js';

export interface DeviceStatusSources {
  status: VplcStatus | undefined;
  observed: ObservedContainer | undefined;
  engineAvailable: boolean;
  /** The engine's address as configured (e.g. unix:///var/run/docker.sock), named when it cannot be reached. */
  engineAddress?: string;
  leases: LeaseBook;
  /** The passthrough state of one configured serial port (undefined: not looked at yet). */
  serialPort: (port: SerialConfig) => SerialPortState | undefined;
  /** The runtime's API answers (see RuntimeReadiness); false while it starts and whenever it is not running. */
  ready?: boolean;
  /** The tag of `--runtime-image`: the runtime_version of vPLCs created without one. */
  defaultRuntimeVersion?: string;
  now: Date;
}

/**
 * get_device_status for one vPLC, answered from the actor's state and the container cache:
 * no Docker round trip per request. Every key of the old agent is kept; `state`, `step`, `last_error`
 * and `failure` are added from the lifecycle machine.
 */
export function deviceStatus(id: string, src: DeviceStatusSources): GetDeviceStatusResult {
  const { status } = src;
  if (!status) return notFound(id);
  const lifecycle = lifecycleFields(status, src.ready === true, src.defaultRuntimeVersion);

  // Create and delete are the operations the old agent tracked; their progress keeps its shape
  // (the first reply shape in docs/protocol.md#get_device_status).
  const inCreateOrDelete = status.phase === 'creating' || status.phase === 'deleting';
  const failedWithoutContainer =
    status.phase === 'failed' && (status.operation === 'create' || status.operation === 'delete') && !src.observed;
  if (inCreateOrDelete || failedWithoutContainer) return operationStatus(id, status, lifecycle);

  if (status.phase === 'deleted') return notFound(id);
  if (!src.engineAvailable) {
    return {
      status: 'error',
      device_id: id,
      error: `${engineUnavailable(src.engineAddress)}: cannot read the container state of ${id}. The agent reconnects to the engine by itself; retry shortly.`,
      ...lifecycle,
    };
  }
  const observed = src.observed;
  if (!observed) {
    if (status.phase === 'failed' || status.phase === 'stopped') {
      return { status: 'not_found', device_id: id, message: `Container ${id} does not exist`, ...lifecycle };
    }
    return {
      status: 'success',
      device_id: id,
      container_status: 'unknown',
      is_running: false,
      networks: {},
      restart_count: status.restartCount,
      ...lifecycle,
    };
  }

  const result: DeviceContainerStatus = {
    status: 'success',
    device_id: id,
    container_status: observed.status || 'unknown',
    is_running: observed.running,
    networks: networksOf(id, status, observed, src.leases),
    restart_count: status.restartCount,
  };
  if (observed.internalIp) result.internal_ip = observed.internalIp;
  if (observed.running && observed.startedAt) {
    const started = Date.parse(observed.startedAt);
    if (Number.isFinite(started)) result.uptime_seconds = Math.max(0, Math.floor((src.now.getTime() - started) / 1000));
  }
  if (!observed.running) result.exit_code = observed.exitCode ?? null;
  if (observed.health) result.health_status = observed.health;
  if (status.spec.serials.length > 0) result.serial_ports = serialPorts(status, src.serialPort);
  return { ...result, ...lifecycle };
}

/** The words every reply about an unreachable engine begins with. */
export function engineUnavailable(address: string | undefined): string {
  return address === undefined ? 'Docker engine unavailable' : `Docker engine unavailable at ${address}`;
}

function notFound(id: string): DeviceNotFound {
  return { status: 'not_found', device_id: id, message: `Container ${id} does not exist` };
}

function lifecycleFields(
  status: VplcStatus,
  ready: boolean,
  defaultRuntimeVersion: string | undefined,
): DeviceLifecycleFields {
  const fields: DeviceLifecycleFields = { state: status.state, ready, desired_state: status.desired };
  Object.assign(fields, stepField(status));
  if (status.lastError) fields.last_error = status.lastError;
  if (status.failure) fields.failure = status.failure;
  const runtimeVersion = status.spec.runtimeVersion ?? defaultRuntimeVersion;
  if (runtimeVersion !== undefined) fields.runtime_version = runtimeVersion;
  return fields;
}

function operationStatus(id: string, status: VplcStatus, lifecycle: DeviceLifecycleFields): DeviceOperationStatus {
  const phase = status.phase === 'creating' || status.phase === 'deleting' ? status.phase : null;
  const operation = phase === 'creating' ? 'create' : phase === 'deleting' ? 'delete' : operationName(status.operation);
  const failed = phase === null;
  const error = status.failure?.reason ?? status.lastError ?? 'unknown error';
  return {
    status: phase ?? 'error',
    device_id: id,
    operation,
    started_at: isoLocal(new Date(status.operationStartedAt ?? status.updatedAt)),
    updated_at: isoLocal(new Date(status.updatedAt)),
    ...stepField(status),
    ...(failed ? { error } : {}),
    message: failed
      ? `Operation failed: ${error}`
      : `Container ${id} is being ${operation === 'create' ? 'created' : 'deleted'}`,
    ...lifecycle,
  };
}

/** The old agent tracked only creates and deletes as operations; anything else reads as `unknown`. */
function operationName(operation: VplcStatus['operation']): DeviceOperationStatus['operation'] {
  return operation === 'create' || operation === 'delete' ? operation : 'unknown';
}

/**
 * Every attached network except the internal bridge, with the DHCP lease's address in place of the
 * IPAM-assigned address Docker shows for a DHCP vNIC. Networks are matched to vNICs by exact
 * name, never by prefix (`eth1` must not match a network of `eth10`).
 */
function networksOf(
  id: string,
  status: VplcStatus,
  observed: ObservedContainer,
  leases: LeaseBook,
): Record<string, DeviceNetworkStatus> {
  const out: Record<string, DeviceNetworkStatus> = {};
  for (const [network, endpoint] of Object.entries(observed.networks)) {
    if (runtimeOfInternalNetwork(network) !== null) continue;
    const view = { ip_address: endpoint.ip, mac_address: endpoint.mac, gateway: endpoint.gateway };
    const parent = macvlanParentOf(network);
    const vnic = status.spec.vnics.find((v) => v.parent_interface === parent);
    const lease = vnic ? leases.get(id, vnic.name) : undefined;
    if (lease) {
      view.ip_address = lease.ip;
      if (lease.gateway) view.gateway = lease.gateway;
    }
    out[network] = view;
  }
  // WiFi vNICs have no Docker network: their Proxy-ARP bridge is reported as the old agent did (`wifi_<parent>_<vnic>`).
  for (const vnic of status.spec.vnics.filter(isWifiVnic)) {
    const bridge = leases.bridge(id, vnic.name);
    const lease = leases.get(id, vnic.name);
    const ip = bridge?.ip_address || lease?.ip || (vnic.ip ? stripPrefix(vnic.ip) : '');
    if (!ip) continue;
    out[`wifi_${vnic.parent_interface}_${vnic.name}`] = {
      ip_address: ip,
      mac_address: null,
      gateway: bridge?.gateway || lease?.gateway || vnic.gateway || null,
    };
  }
  return out;
}

function serialPorts(status: VplcStatus, stateOf: DeviceStatusSources['serialPort']): DeviceSerialPortStatus[] {
  return status.spec.serials.map((port) => {
    const state = stateOf(port);
    const view: DeviceSerialPortStatus = {
      name: port.name,
      device_id: port.device_id,
      container_path: port.container_path,
      status: state?.status ?? 'unknown',
    };
    if (state?.status === 'connected' && state.device) view.current_host_path = state.device.path;
    if (state?.error) view.error = state.error;
    return view;
  });
}

/** The step in progress, or in `failed` the step the operation failed in (as the old agent reported it). */
function stepField(status: VplcStatus): { step?: string } {
  const step = status.step ?? status.failedStep;
  return step ? { step } : {};
}

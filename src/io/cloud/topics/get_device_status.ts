/** `get_device_status`: where a vPLC (or the `__orchestrator__` self-destruct) stands. */
import Type, { type Static } from 'typebox';
import { BASE_DEVICE_FIELDS, defineTopic, type ErrorResult, type Reply } from './base.js';

export const GetDeviceStatusRequest = Type.Object(
  { ...BASE_DEVICE_FIELDS },
  { description: "A vPLC's container state, networks, serial ports and lifecycle state." },
);
export type GetDeviceStatusRequest = Static<typeof GetDeviceStatusRequest>;

/**
 * The lifecycle machine's view, added beside the old agent's keys of a vPLC: its state (dotted, e.g.
 * `creating.networks`), whether its runtime's API answers, the state it should reach, the step in progress, the last error and, in `failed`, why.
 */
export type DeviceLifecycleFields = {
  state: string;
  /** The runtime's API answers: false while it starts, and whenever it is not running. */
  ready: boolean;
  desired_state: 'running' | 'stopped';
  step?: string;
  last_error?: string;
  failure?: { reason: string; exitCode: number | null; oomKilled: boolean; at: string };
  /**
   * The runtime image tag the vPLC was created with (`runtime_version`), or the tag of `--runtime-image` when the
   * create named none; absent when that image is pinned by digest.
   */
  runtime_version?: string;
};
type WithLifecycle<T> = T & Partial<DeviceLifecycleFields>;

/** An operation in progress or failed: a create, a delete, or the agent's own self-destruct. */
export type DeviceOperationStatus = WithLifecycle<{
  status: 'creating' | 'deleting' | 'error';
  device_id: string;
  operation: 'create' | 'delete' | 'unknown';
  started_at: string;
  updated_at: string;
  step?: string;
  error?: string;
  message: string;
}>;

export type DeviceNetworkStatus = { ip_address: string | null; mac_address: string | null; gateway: string | null };

export type DeviceSerialPortStatus = {
  name: string;
  device_id: string;
  container_path: string;
  status: 'connected' | 'disconnected' | 'error' | 'unknown';
  current_host_path?: string;
  /** Why passthrough failed, when it did. */
  error?: string;
};

/**
 * `__orchestrator__`: the agent's own upgrade or self-destruct. Beyond the old agent's `upgrading`/`deleting`/`error`:
 * `success` (step `upgraded`) from the new agent after an upgrade, `error` step `rolled_back` from the previous
 * agent after a rollback, and `deleted` (step `done`), the last word of a self-destruct before the agent is gone.
 */
export type OrchestratorOperationStatus = {
  status: 'upgrading' | 'deleting' | 'deleted' | 'success' | 'error';
  device_id: string;
  operation: 'upgrade' | 'delete';
  started_at: string;
  updated_at: string;
  step?: string;
  error?: string;
  message?: string;
  /** The version now running (after an upgrade or a rollback). */
  orchestrator_version?: string;
};

/** The container exists. */
export type DeviceContainerStatus = WithLifecycle<{
  status: 'success';
  device_id: string;
  container_status: string;
  is_running: boolean;
  networks: Record<string, DeviceNetworkStatus>;
  restart_count: number;
  internal_ip?: string;
  uptime_seconds?: number;
  exit_code?: number | null;
  health_status?: string;
  serial_ports?: DeviceSerialPortStatus[];
}>;

export type DeviceNotFound = WithLifecycle<{ status: 'not_found'; device_id: string; message: string }>;

export type GetDeviceStatusResult =
  | DeviceOperationStatus
  | OrchestratorOperationStatus
  | DeviceContainerStatus
  | DeviceNotFound
  | WithLifecycle<ErrorResult & { device_id?: string }>;
export type GetDeviceStatusReply = Reply<'get_device_status', GetDeviceStatusResult>;

export const getDeviceStatus = defineTopic<GetDeviceStatusResult>()({
  name: 'get_device_status',
  request: GetDeviceStatusRequest,
  mutating: false,
  reply: 'ack',
});

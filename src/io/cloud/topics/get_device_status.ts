/** `get_device_status` (spec §4.7): where a vPLC (or the `__orchestrator__` self-destruct) stands. */
import Type, { type Static } from 'typebox';
import { BASE_DEVICE_FIELDS, defineTopic, type ErrorResult, type Reply } from './base.js';

export const GetDeviceStatusRequest = Type.Object(
  { ...BASE_DEVICE_FIELDS },
  { description: "A vPLC's container state, networks, serial ports and lifecycle state." },
);
export type GetDeviceStatusRequest = Static<typeof GetDeviceStatusRequest>;

/**
 * The lifecycle beside the reference's keys (spec README §3): the machine state, its step, the last error and
 * restart counters. Its exact fields belong to the supervisor that reports them.
 */
export type DeviceLifecycleReport = Record<string, unknown>;

/** An operation in progress or failed (spec §4.7 case 2). */
export type DeviceOperationStatus = {
  status: 'creating' | 'deleting' | 'error';
  device_id: string;
  operation: 'create' | 'delete' | 'unknown';
  started_at: string;
  updated_at: string;
  step?: string;
  error?: string;
  message: string;
  state?: DeviceLifecycleReport;
};

export type DeviceNetworkStatus = { ip_address: string | null; mac_address: string | null; gateway: string | null };

export type DeviceSerialPortStatus = {
  name: string;
  device_id: string;
  container_path: string;
  status: 'connected' | 'disconnected' | 'error' | 'unknown';
  current_host_path?: string;
};

/** The container exists (spec §4.7 case 4). */
export type DeviceContainerStatus = {
  status: 'success';
  device_id: string;
  container_status: string;
  is_running: boolean;
  networks: Record<string, DeviceNetworkStatus>;
  restart_count: number;
  internal_ip?: string;
  uptime_seconds?: number;
  exit_code?: number;
  health_status?: string;
  serial_ports?: DeviceSerialPortStatus[];
  state?: DeviceLifecycleReport;
};

export type DeviceNotFound = { status: 'not_found'; device_id: string; message: string };

export type GetDeviceStatusResult =
  | DeviceOperationStatus
  | DeviceContainerStatus
  | DeviceNotFound
  | (ErrorResult & { device_id?: string });
export type GetDeviceStatusReply = Reply<'get_device_status', GetDeviceStatusResult>;

export const getDeviceStatus = defineTopic({
  name: 'get_device_status',
  request: GetDeviceStatusRequest,
  mutating: false,
  reply: 'ack',
});

/**
 * `list_devices`: every vPLC this agent manages, with its lifecycle state. Added by this agent (the old agent has
 * no such topic; the cloud keeps its own list): ctl's `list` needs it, and a cloud may use it to compare lists.
 */
import Type, { type Static } from 'typebox';
import { BASE_MESSAGE_FIELDS, defineTopic, type Reply } from './base.js';

export const ListDevicesRequest = Type.Object(
  { ...BASE_MESSAGE_FIELDS },
  { description: 'Every vPLC this agent manages, with its lifecycle state; use get_device_status for details.' },
);
export type ListDevicesRequest = Static<typeof ListDevicesRequest>;

export type ListedDevice = {
  device_id: string;
  state: string;
  desired_state: 'running' | 'stopped';
  ready: boolean;
  step?: string;
  last_error?: string;
};

/** Never fails once the agent has reconciled its runtimes. */
export type ListDevicesResult = { status: 'success'; devices: ListedDevice[]; count: number };
export type ListDevicesReply = Reply<'list_devices', ListDevicesResult>;

export const listDevices = defineTopic<ListDevicesResult>()({
  name: 'list_devices',
  request: ListDevicesRequest,
  mutating: false,
  reply: 'ack',
});

/** `get_serial_devices`: serial adapters on the host with a stable by-id path. */
import Type, { type Static } from 'typebox';
import { BASE_MESSAGE_FIELDS, defineTopic, type Reply } from './base.js';

export const GetSerialDevicesRequest = Type.Object(
  { ...BASE_MESSAGE_FIELDS },
  { description: 'Serial devices a vPLC can be given (use device_id as serial_configs[].device_id).' },
);
export type GetSerialDevicesRequest = Static<typeof GetSerialDevicesRequest>;

export type SerialDeviceReport = {
  path: string | null;
  /** The full `/dev/serial/by-id/...` path. */
  device_id: string | null;
  vendor_id: string | null;
  product_id: string | null;
  serial: string | null;
  manufacturer: string | null;
  product: string | null;
};

/** Never fails. */
export type GetSerialDevicesResult = { status: 'success'; devices: SerialDeviceReport[]; count: number };
export type GetSerialDevicesReply = Reply<'get_serial_devices', GetSerialDevicesResult>;

export const getSerialDevices = defineTopic<GetSerialDevicesResult>()({
  name: 'get_serial_devices',
  request: GetSerialDevicesRequest,
  mutating: false,
  reply: 'ack',
});

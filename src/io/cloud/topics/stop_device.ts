/** `stop_device`: the ack says whether the command was accepted; the outcome comes as an event. */
import Type, { type Static } from 'typebox';
import {
  BASE_DEVICE_FIELDS,
  type DeviceCommandEvent,
  type DeviceCommandResult,
  defineTopic,
  type Reply,
} from './base.js';

export const StopDeviceRequest = Type.Object(
  { ...BASE_DEVICE_FIELDS },
  { description: 'Stop a running vPLC; it stays stopped until started again.' },
);
export type StopDeviceRequest = Static<typeof StopDeviceRequest>;

export type StopDeviceResult = DeviceCommandResult;
export type StopDeviceReply = Reply<'stop_device', StopDeviceResult>;
export type StopDeviceEvent = DeviceCommandEvent<'stop_device'>;

export const stopDevice = defineTopic<StopDeviceResult>()({
  name: 'stop_device',
  request: StopDeviceRequest,
  mutating: true,
  reply: 'ack+event',
});

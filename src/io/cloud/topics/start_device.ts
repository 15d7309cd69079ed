/** `start_device`: the ack says whether the command was accepted; the outcome comes as an event. */
import Type, { type Static } from 'typebox';
import {
  BASE_DEVICE_FIELDS,
  type DeviceCommandEvent,
  type DeviceCommandResult,
  defineTopic,
  type Reply,
} from './base.js';

export const StartDeviceRequest = Type.Object(
  { ...BASE_DEVICE_FIELDS },
  { description: 'Start a stopped or failed vPLC.' },
);
export type StartDeviceRequest = Static<typeof StartDeviceRequest>;

export type StartDeviceResult = DeviceCommandResult;
export type StartDeviceReply = Reply<'start_device', StartDeviceResult>;
export type StartDeviceEvent = DeviceCommandEvent<'start_device'>;

export const startDevice = defineTopic<StartDeviceResult>()({
  name: 'start_device',
  request: StartDeviceRequest,
  mutating: true,
  reply: 'ack+event',
});

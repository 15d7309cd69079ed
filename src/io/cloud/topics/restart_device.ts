/** `restart_device`: the ack says whether the command was accepted; the outcome comes as an event. */
import Type, { type Static } from 'typebox';
import {
  BASE_DEVICE_FIELDS,
  type DeviceCommandEvent,
  type DeviceCommandResult,
  defineTopic,
  type Reply,
} from './base.js';

export const RestartDeviceRequest = Type.Object({ ...BASE_DEVICE_FIELDS }, { description: 'Stop and start a vPLC.' });
export type RestartDeviceRequest = Static<typeof RestartDeviceRequest>;

export type RestartDeviceResult = DeviceCommandResult;
export type RestartDeviceReply = Reply<'restart_device', RestartDeviceResult>;
export type RestartDeviceEvent = DeviceCommandEvent<'restart_device'>;

export const restartDevice = defineTopic<RestartDeviceResult>()({
  name: 'restart_device',
  request: RestartDeviceRequest,
  mutating: true,
  reply: 'ack+event',
});

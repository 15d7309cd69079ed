/** `delete_device`: remove a vPLC this agent manages, with its networks. */
import Type, { type Static } from 'typebox';
import { BASE_DEVICE_FIELDS, defineTopic, type ErrorResult, type Reply } from './base.js';

/**
 * BASE_DEVICE, as in the old agent's newest releases: `correlation_id` optional, `requested_at` date-checked,
 * `device_id` non-blank (docs/decisions.md#the-contract-follows-the-newest-release-where-both-clouds-are-served).
 */
export const DeleteDeviceRequest = Type.Object(
  { ...BASE_DEVICE_FIELDS },
  { description: 'Delete a vPLC and the networks only it used.' },
);
export type DeleteDeviceRequest = Static<typeof DeleteDeviceRequest>;

export type DeleteDeviceResult = { status: 'deleting'; device_id: string; message: string } | ErrorResult;
export type DeleteDeviceReply = Reply<'delete_device', DeleteDeviceResult>;

export const deleteDevice = defineTopic<DeleteDeviceResult>()({
  name: 'delete_device',
  request: DeleteDeviceRequest,
  mutating: true,
  reply: 'ack',
});

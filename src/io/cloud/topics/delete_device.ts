/** `delete_device`: remove a vPLC this agent manages, with its networks. */
import Type, { type Static } from 'typebox';
import { defineTopic, type ErrorResult, IsoDateTime, Opt, type Reply } from './base.js';

/** Its own contract, not BASE_DEVICE: `correlation_id` is required here, as in the old agent's January release. */
export const DeleteDeviceRequest = Type.Object(
  {
    correlation_id: Type.Number({ description: 'Chosen by the cloud; echoed in the reply.' }),
    device_id: Type.String({ description: 'The runtime container name.' }),
    action: Opt(Type.String()),
    // The old agent skipped the date check here; we check it as everywhere else (one rule for one field).
    requested_at: Opt(IsoDateTime),
  },
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

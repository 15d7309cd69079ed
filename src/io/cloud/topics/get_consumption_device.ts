/** `get_consumption_device`: resource limits and usage history of one vPLC. */
import Type, { type Static } from 'typebox';
import {
  BASE_DEVICE_FIELDS,
  type CpuSample,
  defineTopic,
  type ErrorResult,
  type MemorySample,
  type Reply,
} from './base.js';

export const GetConsumptionDeviceRequest = Type.Object(
  {
    ...BASE_DEVICE_FIELDS,
    cpuPeriod: Type.String({ description: 'History window for CPU samples (see Period strings in docs/protocol.md).' }),
    memoryPeriod: Type.String({
      description: 'History window for memory samples (see Period strings in docs/protocol.md).',
    }),
  },
  { description: "A vPLC's CPU and memory limits and its usage samples over the requested windows." },
);
export type GetConsumptionDeviceRequest = Static<typeof GetConsumptionDeviceRequest>;

/** No `status` key on success, as in the old agent. */
export type GetConsumptionDeviceResult =
  | {
      device_id: string;
      /** `"<N> MB"`, `"unlimited"` or `"N/A"`. */
      memory: string;
      /** `"<x.y> vCPU"`, `"unlimited"` or `"N/A"`. */
      cpu: string;
      cpu_usage: CpuSample[];
      memory_usage: MemorySample[];
    }
  | ErrorResult;
export type GetConsumptionDeviceReply = Reply<'get_consumption_device', GetConsumptionDeviceResult>;

export const getConsumptionDevice = defineTopic<GetConsumptionDeviceResult>()({
  name: 'get_consumption_device',
  request: GetConsumptionDeviceRequest,
  mutating: false,
  reply: 'ack',
});

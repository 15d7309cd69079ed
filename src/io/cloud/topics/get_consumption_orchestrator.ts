/** `get_consumption_orchestrator`: host facts and the host's usage history. */
import Type, { type Static } from 'typebox';
import { BASE_MESSAGE_FIELDS, type CpuSample, defineTopic, type MemorySample, type Reply } from './base.js';

export const GetConsumptionOrchestratorRequest = Type.Object(
  {
    ...BASE_MESSAGE_FIELDS,
    cpuPeriod: Type.String({ description: 'History window for CPU samples (see Period strings in docs/protocol.md).' }),
    memoryPeriod: Type.String({
      description: 'History window for memory samples (see Period strings in docs/protocol.md).',
    }),
  },
  { description: "The host's addresses, size, OS and usage samples over the requested windows." },
);
export type GetConsumptionOrchestratorRequest = Static<typeof GetConsumptionOrchestratorRequest>;

/** Always succeeds; no `status` key, as in the old agent. */
export type GetConsumptionOrchestratorResult = {
  ip_addresses: Array<{ interface: string; ip_address: string }>;
  /** Total RAM in MB. */
  memory: number;
  /** Logical CPU count. */
  cpu: number;
  os: string;
  kernel: string;
  /** Total disk size in GB. */
  disk: number;
  cpu_usage: CpuSample[];
  memory_usage: MemorySample[];
};
export type GetConsumptionOrchestratorReply = Reply<'get_consumption_orchestrator', GetConsumptionOrchestratorResult>;

export const getConsumptionOrchestrator = defineTopic<GetConsumptionOrchestratorResult>()({
  name: 'get_consumption_orchestrator',
  request: GetConsumptionOrchestratorRequest,
  mutating: false,
  reply: 'ack',
});

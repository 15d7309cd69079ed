/** `upgrade_orchestrator`: replace the agent (and its sidecar) with the newest images; progress is polled as `__orchestrator__`. */
import Type, { type Static } from 'typebox';
import { BASE_MESSAGE_FIELDS, defineTopic, type ErrorResult, type Reply } from './base.js';
import type { ORCHESTRATOR_DEVICE_ID } from './delete_orchestrator.js';

export const UpgradeOrchestratorRequest = Type.Object(
  { ...BASE_MESSAGE_FIELDS },
  {
    description:
      'Pull the newest agent and sidecar images, recreate the sidecar and hand over to an upgrader container that replaces the agent (rolled back when the new agent does not connect).',
  },
);
export type UpgradeOrchestratorRequest = Static<typeof UpgradeOrchestratorRequest>;

export type UpgradeOrchestratorResult =
  | { status: 'accepted'; message: string; poll_device_id: typeof ORCHESTRATOR_DEVICE_ID }
  | ErrorResult;
export type UpgradeOrchestratorReply = Reply<'upgrade_orchestrator', UpgradeOrchestratorResult>;

export const upgradeOrchestrator = defineTopic<UpgradeOrchestratorResult>()({
  name: 'upgrade_orchestrator',
  request: UpgradeOrchestratorRequest,
  mutating: true,
  reply: 'ack',
});

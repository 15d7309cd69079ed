/** `delete_orchestrator`: uninstall the agent; progress is polled as `__orchestrator__`. */
import Type, { type Static } from 'typebox';
import { BASE_MESSAGE_FIELDS, defineTopic, type ErrorResult, type Reply } from './base.js';

/** The pseudo device id under which self-destruct progress is reported. */
export const ORCHESTRATOR_DEVICE_ID = '__orchestrator__';

export const DeleteOrchestratorRequest = Type.Object(
  { ...BASE_MESSAGE_FIELDS },
  { description: 'Remove every vPLC, the sidecar and the agent itself from this host.' },
);
export type DeleteOrchestratorRequest = Static<typeof DeleteOrchestratorRequest>;

export type DeleteOrchestratorResult =
  | { status: 'accepted'; message: string; poll_device_id: typeof ORCHESTRATOR_DEVICE_ID }
  | ErrorResult;
export type DeleteOrchestratorReply = Reply<'delete_orchestrator', DeleteOrchestratorResult>;

export const deleteOrchestrator = defineTopic<DeleteOrchestratorResult>()({
  name: 'delete_orchestrator',
  request: DeleteOrchestratorRequest,
  mutating: true,
  reply: 'ack',
});

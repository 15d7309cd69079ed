/** `get_orchestrator_version`: which agent, sidecar and agent image run on this host (the old agent's newest releases). */
import Type, { type Static } from 'typebox';
import { BASE_MESSAGE_FIELDS, defineTopic, type Reply } from './base.js';

export const GetOrchestratorVersionRequest = Type.Object(
  { ...BASE_MESSAGE_FIELDS },
  { description: "The agent's version, the network-monitor sidecar's version and the agent's image id." },
);
export type GetOrchestratorVersionRequest = Static<typeof GetOrchestratorVersionRequest>;

/** Never fails: what cannot be found out is `"unknown"`, as in the old agent. */
export type GetOrchestratorVersionResult = {
  status: 'success';
  orchestrator_version: string;
  netmon_version: string;
  orchestrator_image_id: string;
};
export type GetOrchestratorVersionReply = Reply<'get_orchestrator_version', GetOrchestratorVersionResult>;

export const getOrchestratorVersion = defineTopic<GetOrchestratorVersionResult>()({
  name: 'get_orchestrator_version',
  request: GetOrchestratorVersionRequest,
  mutating: false,
  reply: 'ack',
});

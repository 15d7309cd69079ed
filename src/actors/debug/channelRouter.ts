import type { TopicRouter } from '../../io/cloud/router.js';

/**
 * A `run_command` from a WebRTC data channel, answered by a router as the cloud's would be: the same contract, port
 * list, path checks, limits and timeout. The browser may use any JSON value as correlation_id (the old agent did not
 * check it), so the router sees a number and the reply carries the browser's value again.
 */
export function channelRunCommand(
  router: TopicRouter,
  payload: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const { type: _type, correlation_id: correlationId, ...rest } = payload;
  const request = { ...rest, correlation_id: typeof correlationId === 'number' ? correlationId : 0 };
  return new Promise((resolve) => {
    const ack = (reply: unknown) =>
      resolve({ ...(reply as Record<string, unknown>), correlation_id: correlationId ?? null });
    // Events a handler emits (none for run_command) have nowhere to go on a channel.
    void router.dispatch('run_command', [request, ack], () => {});
  });
}

/**
 * `orchestrator-agent remove-volume-after <container-id> <volume>`: the last step of a self-destruct, in a
 * container of its own (auto-removed). The agent cannot remove the shared volume while it mounts it, and it is gone
 * once it removed its own container; this waits for that container to disappear, then removes the volume, so that
 * nothing of the agent's is left on the host (docs/protocol.md#delete_orchestrator).
 */
import pino from 'pino';
import { AgentContainers } from '../../io/docker/agentContainers.js';
import { errorText } from '../../model/errors.js';

const WAIT_MS = 120_000;

export async function removeVolumeAfterMain(args: string[]): Promise<number> {
  const log = pino({ base: { component: 'self-destruct' }, level: 'info' });
  const [containerId, volume] = args;
  if (!containerId || !volume || args.length !== 2) {
    log.error('usage: orchestrator-agent remove-volume-after <container-id> <volume>');
    return 2;
  }
  const docker = new AgentContainers({ socketPath: '/var/run/docker.sock' }, log);
  const deadline = Date.now() + WAIT_MS;
  while ((await docker.inspect(containerId)) !== undefined) {
    if (Date.now() > deadline) {
      log.error(
        { containerId, volume },
        `the agent's container is still there after ${WAIT_MS / 1000} s; volume ${volume} is kept`,
      );
      return 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  try {
    const outcome = await docker.removeVolume(volume);
    log.info({ step: 'self_destruct.volume', volume, outcome }, 'shared volume removed');
    return 0;
  } catch (err) {
    log.error(
      { volume, err: errorText(err) },
      `could not remove volume ${volume}; remove it with: docker volume rm ${volume}`,
    );
    return 1;
  }
}

import type { Logger } from 'pino';
import type { GetOrchestratorVersionResult } from '../../io/cloud/topics/index.js';
import type { SidecarReply } from '../../../sidecar/src/protocol.js';
import type { SidecarRequest } from '../../io/netmon/client.js';
import { errorText } from '../../model/errors.js';

/** The old agent's word for what cannot be found out. */
export const UNKNOWN = 'unknown';
/** The sidecar's container, as the installer names it. */
export const NETMON_CONTAINER = 'autonomy_netmon';
const SIDECAR_ASK_MS = 3_000;

export interface VersionSources {
  /** This agent's version (config.ts agentVersion: AGENT_VERSION, else package.json). */
  version: string;
  sidecar: { request(command: SidecarRequest, timeoutMs?: number): Promise<SidecarReply> };
  engine: {
    findSelf(): Promise<{ id: string; name: string } | null>;
    containerImage(name: string): Promise<{ imageId: string; env: string[] } | undefined>;
  };
  log: Logger;
  /** The sidecar's container name (tests); `autonomy_netmon` by default. */
  netmonContainer?: string;
}

/**
 * get_orchestrator_version (docs/protocol.md#get_orchestrator_version). Never fails: each value that cannot be read
 * is `unknown`, as in the old agent. The sidecar's version is the one the running sidecar reports (get_status), else
 * the `AGENT_VERSION` its container was created with (the old agent's only source), else unknown.
 */
export async function orchestratorVersions(src: VersionSources): Promise<GetOrchestratorVersionResult> {
  const [netmon, imageId] = await Promise.all([netmonVersion(src), ownImageId(src)]);
  return {
    status: 'success',
    orchestrator_version: src.version,
    netmon_version: netmon,
    orchestrator_image_id: imageId,
  };
}

async function netmonVersion(src: VersionSources): Promise<string> {
  try {
    const reply = await src.sidecar.request({ command: 'get_status' }, SIDECAR_ASK_MS);
    const version = reply.success && 'status' in reply ? (reply.status as { version?: unknown }).version : undefined;
    if (typeof version === 'string' && version.trim()) return version;
  } catch (err) {
    src.log.debug(
      { step: 'version.sidecar_unanswered', err: errorText(err) },
      'the sidecar did not report its version',
    );
  }
  try {
    const container = await src.engine.containerImage(src.netmonContainer ?? NETMON_CONTAINER);
    const entry = container?.env.find((e) => e.startsWith('AGENT_VERSION='));
    const value = entry?.slice('AGENT_VERSION='.length);
    if (value) return value;
  } catch (err) {
    src.log.debug({ step: 'version.netmon_unreadable', err: errorText(err) }, 'could not read the sidecar container');
  }
  return UNKNOWN;
}

async function ownImageId(src: VersionSources): Promise<string> {
  try {
    const self = await src.engine.findSelf();
    if (!self) return UNKNOWN;
    return (await src.engine.containerImage(self.id))?.imageId || UNKNOWN;
  } catch (err) {
    src.log.debug({ step: 'version.image_unreadable', err: errorText(err) }, "could not read the agent's own image");
    return UNKNOWN;
  }
}

/**
 * The upgrader: runs in its own short-lived container (`orchestrator_upgrader`) and replaces the agent's container
 * with one from the new image, with the variables the Python agent's `src/tools/upgrade_self.py` reads, so that
 * deployed Python agents, which start it as `python src/tools/upgrade_self.py` (install/python-shim.sh), and this
 * agent (actors/orchestrator/upgrade.ts) both hand over to it:
 *
 *   UPGRADE_MODE=true, TARGET_CONTAINER, NEW_IMAGE, MTLS_HOST_PATH, SHARED_VOLUME   (required, as the old one)
 *   UPGRADE_CONNECT_TIMEOUT   seconds the new agent has to connect to the cloud (default 120)
 *   UPGRADE_GRACE             seconds to let the old agent finish its reply first (default 3, as the old one)
 *
 * Unlike the old script it never leaves the host without an agent: the old container is stopped and renamed aside
 * (not removed), the new one must log its cloud connection within the bound, and otherwise it is removed and the
 * old one renamed back and started (rollback). Either way the outcome is written into the shared volume
 * (model/upgrade.ts) for the agent that runs next, which reports it as `__orchestrator__`.
 */
import pino, { type Logger } from 'pino';
import { AgentContainers, type ContainerShape, shapeOf } from '../../io/docker/agentContainers.js';
import { errorText } from '../../model/errors.js';
import { isoLocal } from '../../model/time.js';
import { UPGRADE_RECORD_FILE, UPGRADER_CONTAINER, type UpgradeRecord } from '../../model/upgrade.js';

/** The line the agent logs when its cloud link is up (the old agent's words, kept: actors/cloud/link.ts). */
export const CONNECTED_LINE = /Connection established with the server\./;

const SHARED_MOUNT = '/var/orchestrator';
const MTLS_MOUNT = '/root/.mtls';
const DOCKER_SOCKET = '/var/run/docker.sock';

export interface UpgraderEnv {
  target: string;
  newImage: string;
  mtlsHostPath: string;
  sharedVolume: string;
  connectTimeoutMs: number;
  graceMs: number;
}

/** The variables, checked as the old script checked them (all five, UPGRADE_MODE exactly `true`). */
export function readUpgraderEnv(env: NodeJS.ProcessEnv): UpgraderEnv | string {
  if (env.UPGRADE_MODE !== 'true') return 'UPGRADE_MODE is not "true": this container only runs as an upgrader';
  const missing = ['TARGET_CONTAINER', 'NEW_IMAGE', 'MTLS_HOST_PATH', 'SHARED_VOLUME'].filter((k) => !env[k]?.trim());
  if (missing.length > 0) return `missing environment variable(s) ${missing.join(', ')}: nothing was changed`;
  const seconds = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    return Number.isFinite(n) && n >= 0 && n <= 3600 ? n : Number.NaN;
  };
  const connect = seconds('UPGRADE_CONNECT_TIMEOUT', 120);
  const grace = seconds('UPGRADE_GRACE', 3);
  if (Number.isNaN(connect)) return 'UPGRADE_CONNECT_TIMEOUT must be a number of seconds between 0 and 3600';
  if (Number.isNaN(grace)) return 'UPGRADE_GRACE must be a number of seconds between 0 and 3600';
  return {
    target: env.TARGET_CONTAINER!.trim(),
    newImage: env.NEW_IMAGE!.trim(),
    mtlsHostPath: env.MTLS_HOST_PATH!.trim(),
    sharedVolume: env.SHARED_VOLUME!.trim(),
    connectTimeoutMs: connect * 1000,
    graceMs: grace * 1000,
  };
}

/**
 * The new agent's container: the installer's shape (`install/install.sh`, which the old upgrader reproduced),
 * plus whatever else a person gave the old container (its own environment, labels, other mounts, network, restart
 * policy), minus what the old image brought (so the new image's AGENT_VERSION is the one that counts).
 */
export function newAgentShape(old: ContainerShape | null, env: UpgraderEnv): ContainerShape {
  const required = [
    `${env.mtlsHostPath}:${MTLS_MOUNT}:ro`,
    `${DOCKER_SOCKET}:${DOCKER_SOCKET}`,
    `${env.sharedVolume}:${SHARED_MOUNT}`,
  ];
  const requiredTargets = new Set([MTLS_MOUNT, DOCKER_SOCKET, SHARED_MOUNT]);
  const others = (old?.binds ?? []).filter((b) => !requiredTargets.has(b.split(':')[1] ?? ''));
  const restart = old?.hostConfig.RestartPolicy?.Name;
  return {
    env: old?.env ?? [],
    labels: old?.labels ?? {},
    binds: [...required, ...others],
    hostConfig: {
      ...(old?.hostConfig ?? {}),
      RestartPolicy: { Name: restart && restart !== 'no' ? restart : 'unless-stopped', MaximumRetryCount: 0 },
    },
    networkMode: old?.networkMode ?? 'default',
  };
}

export async function runUpgrader(env: NodeJS.ProcessEnv, log: Logger): Promise<number> {
  const parsed = readUpgraderEnv(env);
  if (typeof parsed === 'string') {
    log.error({ step: 'upgrade.refused' }, `upgrader: ${parsed}`);
    return 1;
  }
  const cfg = parsed;
  const docker = new AgentContainers({ socketPath: DOCKER_SOCKET }, log);
  const previous = `${cfg.target}_previous`;
  const startedAt = isoLocal();
  log.info(
    { step: 'upgrade.waiting', target: cfg.target, image: cfg.newImage },
    'Waiting for the old orchestrator to finish responding',
  );
  await new Promise((resolve) => setTimeout(resolve, cfg.graceMs));

  const old = await docker.inspect(cfg.target);
  const oldImage = old ? await docker.inspectImage(old.Image) : undefined;
  const shape = newAgentShape(old ? shapeOf(old, oldImage) : null, cfg);
  const oldPolicy = old?.HostConfig.RestartPolicy?.Name || 'unless-stopped';
  const record = (outcome: UpgradeRecord['outcome'], error: string | null): string =>
    `${JSON.stringify({
      outcome,
      to_image: cfg.newImage,
      from_image: old?.Config.Image ?? null,
      started_at: startedAt,
      finished_at: outcome === 'pending' ? null : isoLocal(),
      error,
    } satisfies UpgradeRecord)}\n`;

  if (old) {
    // A previous upgrade that died half-way may have left one behind; the name is the upgrader's own.
    if ((await docker.remove(previous)) === 'removed')
      log.warn({ container: previous }, 'removed a stale previous agent');
    log.info({ step: 'upgrade.stopping_old', container: cfg.target }, 'stopping the old agent (kept for rollback)');
    try {
      await docker.setRestartPolicy(cfg.target, 'no');
      await docker.stop(cfg.target, 15);
      await docker.rename(cfg.target, previous);
    } catch (err) {
      log.error({ step: 'upgrade.aborted', err: errorText(err) }, 'could not set the old agent aside; restarting it');
      await docker.setRestartPolicy(cfg.target, oldPolicy).catch(() => undefined);
      await docker.start(cfg.target).catch(() => undefined);
      return 1;
    }
  } else {
    log.warn({ container: cfg.target }, 'no old agent container: installing the new one without a rollback target');
  }

  let why: string;
  try {
    await docker.create(cfg.target, cfg.newImage, shape);
    await docker.putFile(cfg.target, SHARED_MOUNT, UPGRADE_RECORD_FILE, record('pending', null));
    await docker.start(cfg.target);
    log.info(
      { step: 'upgrade.verifying', container: cfg.target, timeoutS: cfg.connectTimeoutMs / 1000 },
      'new agent started; waiting for it to connect to the cloud',
    );
    const connected = await docker.waitForOutput(cfg.target, CONNECTED_LINE, cfg.connectTimeoutMs);
    if (connected.seen) {
      if (old) await docker.remove(previous);
      log.info(
        { step: 'upgrade.done', container: cfg.target, image: cfg.newImage },
        'upgrade complete: the new agent is connected',
      );
      await removeSelf(docker, log, env.HOSTNAME);
      return 0;
    }
    why = connected.why;
  } catch (err) {
    why = errorText(err);
  }

  log.error({ step: 'upgrade.rolling_back', why }, 'the new agent did not come up; rolling back');
  const error = `The upgrade to ${cfg.newImage} was rolled back: the new agent ${why.startsWith('it ') ? why.slice(3) : `failed: ${why}`}. The previous agent was started again; check the new image and the cloud address, then retry.`;
  try {
    await docker.stop(cfg.target, 10).catch(() => undefined);
    await docker.remove(cfg.target);
    if (old) {
      await docker.rename(previous, cfg.target);
      await docker.setRestartPolicy(cfg.target, oldPolicy);
      await docker.putFile(cfg.target, SHARED_MOUNT, UPGRADE_RECORD_FILE, record('rolled_back', error));
      await docker.start(cfg.target);
      log.warn({ step: 'upgrade.rolled_back', container: cfg.target }, 'rolled back: the previous agent runs again');
    }
  } catch (err) {
    // Nothing more can be done from here; say exactly what is left for the person at the host.
    log.fatal(
      { step: 'upgrade.rollback_failed', err: errorText(err) },
      `rollback failed: start the previous agent by hand (docker rename ${previous} ${cfg.target} && docker start ${cfg.target})`,
    );
    return 2;
  }
  await removeSelf(docker, log, env.HOSTNAME);
  return 1;
}

/** The upgrader's own container is left behind by the old flow; ours removes itself, and only by its own name. */
async function removeSelf(docker: AgentContainers, log: Logger, hostname: string | undefined): Promise<void> {
  if (!hostname) return;
  const self = await docker.inspect(hostname).catch(() => undefined);
  if (self?.Name !== `/${UPGRADER_CONTAINER}` || !self.Id.startsWith(hostname)) return;
  log.info({ step: 'upgrade.cleanup', container: UPGRADER_CONTAINER }, 'removing the upgrader container');
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the last log line reach Docker
  await docker.remove(self.Id).catch(() => undefined);
}

export async function upgraderMain(env: NodeJS.ProcessEnv): Promise<number> {
  const log = pino({ base: { component: 'upgrader' }, level: 'info' });
  try {
    return await runUpgrader(env, log);
  } catch (err) {
    log.fatal({ err: errorText(err) }, 'upgrader failed before it changed anything it could put back');
    return 1;
  }
}

import type { ContainerExit } from '../../model/vplc.js';

/**
 * Every sentence a vPLC lifecycle can send to the cloud: refusals, failure reasons and warnings.
 * They reach plant engineers through `get_device_status` and the start/stop/restart reply events, so
 * each one says what happened, to which vPLC, and what to do next.
 */

export type VplcCommandName = 'START' | 'STOP' | 'RESTART' | 'DELETE';
export type VplcOperation = 'create' | 'start' | 'stop' | 'restart' | 'delete';

const VERB: Record<VplcCommandName, string> = { START: 'start', STOP: 'stop', RESTART: 'restart', DELETE: 'delete' };

/** What the refusal needs to know about the vPLC (phase = top-level state). */
export interface RefusalSubject {
  name: string;
  phase: string;
  step: string | null;
  deleteRequested: boolean;
  failureReason: string | null;
}

/** The sentence for a command the vPLC cannot take in its current state. */
export function refusal(cmd: VplcCommandName, s: RefusalSubject): string {
  const verb = VERB[cmd];
  const { name } = s;
  if (s.deleteRequested || s.phase === 'deleting') {
    return cmd === 'DELETE' ? `${name} is already being deleted` : `${name} is being deleted; ${verb} is not possible`;
  }
  switch (s.phase) {
    case 'creating':
      return cmd === 'START'
        ? `${name} is being created and starts by itself once creation finishes`
        : `${name} is being created; ${verb} is possible once it is running`;
    case 'rollingBack':
      return `${name} could not be created and what was made is being removed; ${verb} is possible once that clean-up finishes`;
    case 'starting':
    case 'adopting':
      return `${name} is starting; ${verb} is possible once it is running`;
    case 'reattaching':
      return `${name} is moving to the new subnet of its parent interface after a network change; ${verb} is possible again in a moment`;
    case 'stopping':
      return `${name} is stopping; ${verb} is possible once it has stopped`;
    case 'restarting':
      return `${name} is restarting; ${verb} is possible once it is running`;
    case 'running':
      return cmd === 'START' ? `${name} is already running` : `${name} is running; ${verb} is not possible now`;
    case 'stopped':
      return cmd === 'STOP' ? `${name} is already stopped` : `${name} is stopped; ${verb} is not possible now`;
    case 'failed':
      return `${name} has failed${s.failureReason ? ` (${s.failureReason})` : ''}; start, restart or delete it`;
    case 'deleted':
      return `${name} has been deleted`;
    default:
      return `${name} is ${s.phase}; ${verb} is not possible now`;
  }
}

export function notFound(name: string): string {
  return `${name} does not exist; create it first`;
}

export function alreadyExists(name: string, phase: string): string {
  return `${name} already exists (${phase}); delete it before creating it again`;
}

/** `exit code 137, out of memory` — how an exit reads inside a sentence. */
export function describeExit(exit: Pick<ContainerExit, 'exitCode' | 'oomKilled'>): string {
  const code = exit.exitCode === null ? 'unknown exit code' : `exit code ${exit.exitCode}`;
  return exit.oomKilled ? `${code}, killed for running out of memory` : code;
}

export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${Math.round(ms / 1_000)} s`;
  const min = ms / 60_000;
  if (min < 120) return `${Number.isInteger(min) ? min : min.toFixed(1)} min`;
  return `${(min / 60).toFixed(1)} h`;
}

export function crashRestarting(
  name: string,
  exit: ContainerExit,
  delayMs: number,
  used: number,
  max: number,
  windowMs: number,
): string {
  return `${name} stopped unexpectedly (${describeExit(exit)}); restarting in ${formatDuration(delayMs)} (restart ${used} of at most ${max} in ${formatDuration(windowMs)})`;
}

export function restartBudgetExhausted(
  name: string,
  exit: ContainerExit,
  max: number,
  windowMs: number,
  error: string | null,
): string {
  const last = error ? `last error: ${error}` : `last: ${describeExit(exit)}`;
  return `${name} stopped unexpectedly ${max} times within ${formatDuration(windowMs)} (${last}); it stays stopped until you start, restart or delete it`;
}

export function restartAttemptFailed(name: string, error: string): string {
  return `${name} could not be restarted after a crash: ${error}`;
}

const CREATE_STEP: Record<string, string> = {
  image: 'preparing its configuration and runtime image',
  networks: 'creating its networks',
  container: 'creating its container',
  start: 'starting its container',
};

export function createFailed(name: string, step: string, error: string): string {
  return `creating ${name} failed while ${CREATE_STEP[step] ?? step}: ${error}`;
}

export function rolledBack(failure: string): string {
  return `${failure}; everything created for it was removed, so fix the cause and start it to create it again, or delete it`;
}

export function rollbackFailed(name: string, failure: string, error: string): string {
  return `${failure}; removing what was created also failed: ${error}; delete ${name} to retry the clean-up`;
}

export function startFailed(name: string, error: string): string {
  return `starting ${name} failed: ${error}`;
}

export function stopFailed(name: string, error: string): string {
  return `stopping ${name} failed: ${error}; stop or delete it again to retry`;
}

export function restartStepFailed(name: string, step: 'stop' | 'start', error: string): string {
  return `restarting ${name} failed while ${step === 'stop' ? 'stopping' : 'starting'} its container: ${error}`;
}

export function deleteFailed(name: string, step: 'remove' | 'networks', error: string): string {
  const what = step === 'remove' ? 'removing its container' : 'removing its networks';
  return `deleting ${name} failed while ${what}: ${error}; delete it again to retry`;
}

export function containerRemovedOutside(name: string): string {
  return `the container of ${name} was removed outside the agent; start it to create it again, or delete it`;
}

export function containerMissing(name: string): string {
  return `the container of ${name} no longer exists; start it to create it again, or delete it`;
}

export function attachFailed(name: string, error: string): string {
  return `${name} runs, but the agent could not join its internal network (${error}); run_command and consumption data for it are unavailable until it restarts`;
}

export function dhcpFailed(name: string, error: string): string {
  return `${name} runs, but requesting its DHCP lease failed (${error}); it is requested again on its next start or network change`;
}

export function networkMoveFailed(name: string, parents: readonly string[], error: string): string {
  const which = parents.length === 1 ? `interface ${parents[0]}` : `interfaces ${parents.join(', ')}`;
  return `${name} runs, but moving it to the new subnet of ${which} failed (${error}); it is tried again on the next change of that interface, or delete and create it again`;
}

export function nicFailed(name: string, error: string): string {
  return `${name} runs without its dedicated NIC (${error}); restart ${name} once the network monitor sidecar runs, or delete and create it`;
}

export function nicReturnFailed(name: string, error: string): string {
  return `giving the dedicated NIC of ${name} back to the host failed (${error}); continuing, the kernel returns a physical port to the host when the runtime stops`;
}

export function stopDhcpFailed(name: string, error: string): string {
  return `stopping the DHCP client of ${name} failed (${error}); continuing`;
}

export function stopBeforeDeleteFailed(name: string, error: string): string {
  return `stopping ${name} before deleting it failed (${error}); removing it by force`;
}

export function superseded(name: string, op: VplcOperation, by: VplcOperation): string {
  const participle: Record<VplcOperation, string> = {
    create: 'created',
    start: 'started',
    stop: 'stopped',
    restart: 'restarted',
    delete: 'deleted',
  };
  return `the ${op} of ${name} was cancelled because ${name} is being ${participle[by]}`;
}

export function internalFailure(name: string, error: string): string {
  return `the lifecycle of ${name} hit an internal error (${error}); start, restart or delete it`;
}

export { errorText } from '../../model/errors.js';

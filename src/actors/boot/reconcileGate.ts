import type { Logger } from 'pino';
import type { Dispatch } from '../cloud/link.js';
import { engineUnavailable } from '../cloud/topics/deviceStatus.js';

/**
 * Holds back the topics that need the Docker engine until boot reconciliation has read the runtimes, for an agent
 * whose link opens before reconciliation ends (local mode: it must answer even on a machine without Docker). The
 * rule the production order keeps — nothing is served from an unreconciled view — holds here per topic: a topic
 * that needs Docker is answered with why it cannot be served yet, never from a half-known state. Topics that
 * need no engine (host interfaces, serial devices, the host's own usage) are served at once.
 */

/** Topics answered from the engine or from the vPLCs reconciliation builds. */
export const TOPICS_NEEDING_DOCKER: ReadonlySet<string> = new Set([
  'create_new_runtime',
  'delete_device',
  'start_device',
  'stop_device',
  'restart_device',
  'delete_orchestrator',
  'get_device_status',
  'get_consumption_device',
  'list_devices',
  'run_command',
]);

/** Topics whose outcome the cloud also waits for as an event of the same name: a refusal sends it too. */
const WITH_COMPLETION_EVENT = new Set(['start_device', 'stop_device', 'restart_device']);

/** How long a request waits for a first reconciliation attempt that has not finished yet. */
const FIRST_ATTEMPT_WAIT_MS = 5_000;

export type Admission = { open: true } | { open: false; engineProblem: string | null };

export class ReconcileGate {
  private opened = false;
  private engineProblem: string | null = null;
  private readonly waiters = new Set<() => void>();

  /** Reconciliation found the engine silent (its own words); it goes on retrying. */
  engineUnavailable(reason: string): void {
    this.engineProblem = reason;
    this.wake();
  }

  /** Reconciliation has finished: every topic is served from now on. */
  open(): void {
    this.opened = true;
    this.wake();
  }

  isOpen(): boolean {
    return this.opened;
  }

  /** Whether a topic that needs Docker may run now; waits briefly while the first attempt is under way. */
  async admit(waitMs = FIRST_ATTEMPT_WAIT_MS): Promise<Admission> {
    if (!this.opened && this.engineProblem === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
    return this.opened ? { open: true } : { open: false, engineProblem: this.engineProblem };
  }

  private wake(): void {
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }
}

function objectOf(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The sentence a held-back topic is answered with. */
export function heldBackError(topic: string, engineAddress: string, admission: Admission): string {
  if (admission.open) throw new Error('an admitted topic is not held back');
  if (admission.engineProblem !== null) {
    return (
      `${engineUnavailable(engineAddress)}: ${topic} needs it, and the agent has not read its runtimes yet ` +
      `(${admission.engineProblem}). Start dockerd or point DOCKER_HOST at its socket; the agent connects by ` +
      'itself once the engine answers.'
    );
  }
  return (
    `The agent is still reading its runtimes from the Docker engine at ${engineAddress}; ${topic} is served ` +
    'once that is done. Retry in a moment.'
  );
}

/** Wraps the router's dispatch: topics needing Docker pass the gate first, the others go straight through. */
export function gatedDispatch(inner: Dispatch, gate: ReconcileGate, engineAddress: string, log: Logger): Dispatch {
  return (topic, args, emit) => {
    if (gate.isOpen() || !TOPICS_NEEDING_DOCKER.has(topic)) {
      inner(topic, args, emit);
      return;
    }
    void gate.admit().then((admission) => {
      if (admission.open) {
        inner(topic, args, emit);
        return;
      }
      const ack = typeof args.at(-1) === 'function' ? (args.at(-1) as (reply: unknown) => void) : null;
      const payload = objectOf(args[0]);
      const correlation_id = payload?.correlation_id ?? null;
      const error = heldBackError(topic, engineAddress, admission);
      log.info({ topic, correlation_id, status: 'error', error }, 'request held back until reconciliation');
      if (WITH_COMPLETION_EVENT.has(topic)) {
        const device_id = typeof payload?.device_id === 'string' ? payload.device_id : '';
        emit(topic, { action: topic, correlation_id, device_id, success: false, error });
      }
      ack?.({ status: 'error', error, action: topic, correlation_id });
    });
  };
}

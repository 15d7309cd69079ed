import { ioStep, type Meanwhile, type Outcome, type Unless, unlessList } from './ioStep.js';
import type { Target } from './transitions.js';

/** Step blocks several phases share: bringing a container up to `running`, and releasing DHCP before it stops. */

/**
 * Ask for the DHCP leases of the vNICs in `dhcp` mode, then run. A missing lease is reported, not fatal:
 * the PLC runs and its other vNICs work, and a lease that arrives later clears the warning.
 */
export function requestLeases(error: Pick<Outcome, 'unless'> = {}) {
  return ioStep('startDhcp', {
    watch: 'run',
    done: { to: '#vplc.running' },
    error: { to: '#vplc.running', actions: 'recordDhcpWarning', ...error },
  });
}

/**
 * Move the dedicated NIC into the running runtime (a no-op without one, or when it is already inside), then
 * join. A runtime that was adopted and cannot get its NIC runs on and says so; `error` overrides that.
 */
function dedicateNic(error: Outcome) {
  return ioStep('dedicateNic', { watch: 'run', done: { to: 'attach' }, error });
}

/**
 * Bring in the dedicated NIC, join the agent to the runtime's internal network, then ask for leases. Boot
 * reconciliation adopts a running container here too (so a NIC an interrupted move left on the host is moved).
 * The runtime works without the agent on its bridge; only run_command and metrics need it, so a failed attach is
 * reported and the vPLC carries on.
 */
export const attachAndLease = {
  nic: dedicateNic({ to: 'attach', actions: 'recordNicError' }),
  attach: ioStep('attachAgent', {
    watch: 'run',
    done: { to: 'dhcp' },
    error: { to: 'dhcp', actions: 'recordAttachError' },
  }),
  dhcp: requestLeases(),
};

/**
 * Start the container, bring in its dedicated NIC, join it, ask for leases: the way up to `running` after a
 * create, a START and a restart. `startFailed` says where a failed start goes, and a failed NIC move too (a
 * vPLC without the NIC the plant engineer chose must not pass for created). Nothing runs after a failed start,
 * so a crash noted meanwhile is not one of this run: only a DELETE and a removal come first (unless it says
 * otherwise).
 */
export function bringUp(startFailed: Outcome) {
  return {
    start: ioStep('startContainer', {
      entry: 'clearRun',
      watch: 'run',
      done: { to: 'attach', unless: NIC_FIRST, record: 'recordStart' },
      error: { first: ['deleteRequested', 'containerGone'], ...startFailed },
    }),
    ...attachAndLease,
    nic: dedicateNic(startFailed),
  };
}

/** A vPLC with a dedicated NIC takes the NIC step first; one without goes straight on. */
export const NIC_FIRST = { guard: 'hasDedicatedNic', to: 'nic' } as const satisfies Unless;
/** Before a stop: give the dedicated NIC back first, when there is one. */
export const RETURN_NIC_FIRST = { guard: 'hasDedicatedNic', to: 'returnNic' } as const satisfies Unless;

interface ReleaseStep {
  to: Target;
  watch?: 'run' | 'removal';
  first?: readonly Meanwhile[];
  unless?: Unless | readonly Unless[];
  onCrash?: Outcome['onCrash'];
}

/**
 * Stop the runtime's DHCP clients before its interfaces go (stop, restart, delete, a network move).
 * A failure is only a warning: the clients end with the container anyway.
 */
export function releaseDhcp(step: ReleaseStep) {
  return release('stopDhcp', 'recordStopDhcpError', step);
}

/**
 * Give the dedicated NIC back to the host before the runtime stops (stop, restart, delete, rollback). A failure
 * is only a warning: the kernel gives a physical port back when the runtime's namespace ends.
 */
export function releaseNic(step: ReleaseStep) {
  return release('returnNic', 'recordNicReturnError', step);
}

function release(
  src: 'stopDhcp' | 'returnNic',
  warn: 'recordStopDhcpError' | 'recordNicReturnError',
  step: ReleaseStep,
) {
  const { to, watch, first, unless, onCrash } = step;
  return ioStep(src, {
    ...(watch ? { watch } : {}),
    done: { to, first, unless, onCrash },
    error: { to, actions: warn, first, unless: unlessList(unless).map((u) => ({ ...u, actions: warn })), onCrash },
  });
}

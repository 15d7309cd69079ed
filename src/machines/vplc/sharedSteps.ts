import { ioStep, type Meanwhile, type Outcome } from './ioStep.js';
import type { VplcGuard } from './setup.js';
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
 * Join the agent to the runtime's internal network, then ask for leases. Boot reconciliation adopts a
 * running container here too. The runtime works without the agent on its bridge; only run_command and
 * metrics need it, so a failed attach is reported and the vPLC carries on.
 */
export const attachAndLease = {
  attach: ioStep('attachAgent', {
    watch: 'run',
    done: { to: 'dhcp' },
    error: { to: 'dhcp', actions: 'recordAttachError' },
  }),
  dhcp: requestLeases(),
};

/**
 * Start the container, join it, ask for leases: the way up to `running` after a create, a START and a
 * restart. `startFailed` says where a failed start goes. Nothing runs after a failed start, so a crash
 * noted meanwhile is not one of this run: only a DELETE and a removal come first (unless it says otherwise).
 */
export function bringUp(startFailed: Outcome) {
  return {
    start: ioStep('startContainer', {
      entry: 'clearRun',
      watch: 'run',
      done: { to: 'attach', record: 'recordStart' },
      error: { first: ['deleteRequested', 'containerGone'], ...startFailed },
    }),
    ...attachAndLease,
  };
}

/**
 * Stop the runtime's DHCP clients before its interfaces go (stop, restart, delete, a network move).
 * A failure is only a warning: the clients end with the container anyway.
 */
export function releaseDhcp(step: {
  to: Target;
  watch?: 'run' | 'removal';
  first?: readonly Meanwhile[];
  unless?: { guard: VplcGuard; to: Target };
  onCrash?: Outcome['onCrash'];
}) {
  const { to, watch, first, unless, onCrash } = step;
  const warn = 'recordStopDhcpError' as const;
  return ioStep('stopDhcp', {
    ...(watch ? { watch } : {}),
    done: { to, first, unless, onCrash },
    error: { to, actions: warn, first, unless: unless && { ...unless, actions: warn }, onCrash },
  });
}

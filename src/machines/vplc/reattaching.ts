import { ioStep } from './ioStep.js';
import { vplcSetup } from './setup.js';
import { releaseDhcp, requestLeases } from './sharedSteps.js';

/**
 * A parent interface changed subnet: release DHCP (its interface is about to go), move the MACVLAN
 * endpoints to the new subnet's network, then ask for fresh leases. A crash before the move finished puts
 * the move back on the list, so it happens once the watchdog has the vPLC running again. A failed move is
 * not fatal: the PLC keeps running, and the sentence says what failed and what to do.
 */
export const reattaching = vplcSetup.createStateConfig({
  initial: 'releaseDhcp',
  states: {
    releaseDhcp: releaseDhcp({ watch: 'run', to: 'move', onCrash: 'requeueMove' }),
    move: ioStep('moveNetworks', {
      watch: 'run',
      done: { to: 'dhcp', actions: 'recordMoveResult', onCrash: 'recordMoveResult' },
      error: { to: 'dhcp', actions: 'recordMoveFailure', onCrash: 'recordMoveFailure' },
    }),
    // A network conflict matters more than a lease that is retried anyway: it keeps its place.
    dhcp: requestLeases({ unless: { guard: 'networkWarning', to: '#vplc.running' } }),
  },
});

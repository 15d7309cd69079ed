import { vplcSetup } from './setup.js';
import { attachAndLease, bringUp } from './sharedSteps.js';

/** START of a stopped (or failed) vPLC whose container exists. */
export const starting = vplcSetup.createStateConfig({
  initial: 'start',
  states: bringUp({ to: '#vplc.failed', actions: 'recordStartFailure' }),
});

/** Boot reconciliation (or someone by hand) started the container: reconnect to it before calling it running. */
export const adopting = vplcSetup.createStateConfig({
  initial: 'pick',
  states: {
    // No I/O: the NIC step only for a vPLC that has a dedicated NIC.
    pick: { always: [{ guard: 'hasDedicatedNic', target: 'nic' }, { target: 'attach' }] },
    ...attachAndLease,
  },
});

import { vplcSetup } from './setup.js';
import { attachAndLease, bringUp } from './sharedSteps.js';

/** START of a stopped (or failed) vPLC whose container exists. */
export const starting = vplcSetup.createStateConfig({
  initial: 'start',
  states: bringUp({ to: '#vplc.failed', actions: 'recordStartFailure' }),
});

/** Boot reconciliation (or someone by hand) started the container: reconnect to it before calling it running. */
export const adopting = vplcSetup.createStateConfig({
  initial: 'attach',
  states: attachAndLease,
});

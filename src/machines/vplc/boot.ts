import { vplcSetup } from './setup.js';

/** Picks the start state from the input: a new runtime, or one boot reconciliation found. */
export const boot = vplcSetup.createStateConfig({
  always: [
    { guard: 'foundFailed', target: 'failed' },
    { guard: 'createRequested', target: 'creating' },
    { guard: 'foundStopped', target: 'stopped' },
    // Found running: join its internal network and renew DHCP, as after our own start (see adopting).
    { guard: 'hasContainer', target: 'adopting' },
    { target: 'failed', actions: 'recordContainerMissing' },
  ],
});

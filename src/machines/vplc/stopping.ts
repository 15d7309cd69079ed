import { ioStep } from './ioStep.js';
import { vplcSetup } from './setup.js';
import { RETURN_NIC_FIRST, releaseDhcp, releaseNic } from './sharedSteps.js';
import { deleteNow, launch, removedOutside } from './transitions.js';

/**
 * STOP: release DHCP, give the dedicated NIC back to the host, then stop the container. Our own stop explains any `die` meanwhile; a removal by
 * someone else is noted, and acted on once the stop settles.
 */
export const stopping = vplcSetup.createStateConfig({
  initial: 'releaseDhcp',
  states: {
    releaseDhcp: releaseDhcp({ watch: 'removal', first: ['deleteRequested'], to: 'stop', unless: RETURN_NIC_FIRST }),
    returnNic: releaseNic({ watch: 'removal', first: ['deleteRequested'], to: 'stop' }),
    stop: ioStep('stopContainer', {
      watch: 'removal',
      done: { to: '#vplc.stopped' },
      error: { to: '#vplc.failed', actions: 'recordStopFailure' },
    }),
  },
});

export const stopped = vplcSetup.createStateConfig({
  entry: 'endOperation',
  on: {
    START: launch('start', 'starting'),
    RESTART: launch('restart', 'starting'),
    DELETE: deleteNow,
    // Someone started it by hand: reality wins, and from now on the watchdog guards it.
    'container.started': { target: 'adopting', actions: 'adoptStartedContainer' },
    'container.removed': removedOutside,
  },
});

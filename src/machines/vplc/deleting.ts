import { ioStep } from './ioStep.js';
import { vplcSetup } from './setup.js';
import { RETURN_NIC_FIRST, releaseDhcp, releaseNic } from './sharedSteps.js';

/**
 * DELETE: release DHCP, give the dedicated NIC back to the host, stop gracefully (OpenPLC gets the engine's 10 s to shut down), then remove the
 * container and its networks. Nothing is watched here: everything is going anyway, and a second DELETE is
 * refused as already in progress.
 */
export const deleting = vplcSetup.createStateConfig({
  // A crash or removal noticed while the last step ran no longer matters.
  entry: 'forgetInterrupts',
  initial: 'releaseDhcp',
  states: {
    releaseDhcp: releaseDhcp({ to: 'stop', unless: RETURN_NIC_FIRST }),
    returnNic: releaseNic({ to: 'stop' }),
    // The removal is forced anyway: a failed graceful stop only costs the clean shutdown.
    stop: ioStep('stopContainer', {
      done: { to: 'remove' },
      error: { to: 'remove', actions: 'recordStopBeforeDeleteError' },
    }),
    remove: ioStep('removeContainer', {
      done: { to: 'networks', actions: 'forgetContainer' },
      error: { to: '#vplc.failed', actions: { type: 'recordDeleteFailure', params: { step: 'remove' } } },
    }),
    networks: ioStep('removeNetworks', {
      done: { to: '#vplc.deleted' },
      error: { to: '#vplc.failed', actions: { type: 'recordDeleteFailure', params: { step: 'networks' } } },
    }),
  },
});

export const deleted = vplcSetup.createStateConfig({
  type: 'final',
  entry: 'endOperation',
});

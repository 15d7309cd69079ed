import { ioStep } from './ioStep.js';
import { vplcSetup } from './setup.js';
import { bringUp, RETURN_NIC_FIRST, releaseDhcp, releaseNic } from './sharedSteps.js';
import { begin, deleteNow, removedOutside } from './transitions.js';

/**
 * Two ways in: the cloud's RESTART (release DHCP, give the dedicated NIC back, stop, start) and the watchdog
 * after a crash (release DHCP, wait out the backoff, start: the NIC went back with the runtime's namespace). `restartAt` tells them apart.
 */
export const restarting = vplcSetup.createStateConfig({
  initial: 'releaseDhcp',
  states: {
    releaseDhcp: releaseDhcp({
      watch: 'removal',
      to: 'stop',
      unless: [{ guard: 'watchdogRestart', to: 'backoff' }, RETURN_NIC_FIRST],
    }),
    returnNic: releaseNic({ watch: 'removal', to: 'stop' }),
    stop: ioStep('stopContainer', {
      watch: 'removal',
      done: { to: 'start' },
      error: { to: '#vplc.failed', actions: { type: 'recordRestartStepFailure', params: { step: 'stop' } } },
    }),
    /** Nothing in flight here: every command is taken at once. */
    backoff: {
      exit: 'clearRestartTimer',
      after: { restartBackoff: 'start' },
      on: {
        START: { target: 'start', actions: begin('start') },
        RESTART: { target: 'start', actions: begin('restart') },
        STOP: { target: '#vplc.stopped', actions: begin('stop') },
        DELETE: deleteNow,
        'container.started': { target: '#vplc.adopting', actions: 'adoptStartedContainer' },
        'container.removed': removedOutside,
      },
    },
    // A restart the cloud asked for that fails to start is reported. A watchdog restart that fails is one
    // more crash and spends budget like one.
    ...bringUp({
      unless: {
        guard: 'operationInProgress',
        to: '#vplc.failed',
        actions: { type: 'recordRestartStepFailure', params: { step: 'start' } },
      },
      to: '#vplc.crashed',
      actions: 'recordFailedRestartAttempt',
    }),
  },
});

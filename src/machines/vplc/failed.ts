import { vplcSetup } from './setup.js';
import { deleteNow, launch } from './transitions.js';

/** Waits for the cloud: START, RESTART or DELETE. The watchdog never restarts from here. */
export const failed = vplcSetup.createStateConfig({
  entry: 'announceFailure',
  on: {
    START: launch('start', 'starting'),
    RESTART: launch('restart', 'restarting'),
    DELETE: deleteNow,
    'container.started': { target: 'adopting', actions: 'adoptStartedContainer' },
    // Already failed: only forget the container, so that START creates it again.
    'container.removed': { actions: 'forgetContainer' },
  },
});

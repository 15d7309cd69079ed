import { vplcSetup } from './setup.js';
import { begin, deleteNow, removedOutside } from './transitions.js';

/** The goal of create, start and restart. A network change noted meanwhile is acted on at once. */
export const running = vplcSetup.createStateConfig({
  entry: 'endOperation',
  always: { guard: 'networkChangePending', target: 'reattaching', actions: 'beginReattach' },
  on: {
    STOP: { target: 'stopping', actions: begin('stop') },
    RESTART: { target: 'restarting', actions: begin('restart') },
    DELETE: deleteNow,
    'container.died': { guard: 'diedInCurrentRun', target: 'crashed', actions: 'recordExit' },
    'container.removed': removedOutside,
  },
});

/** The container died while it should run; decide between a restart and giving up. */
export const crashed = vplcSetup.createStateConfig({
  always: [
    { guard: 'restartBudgetLeft', target: 'restarting', actions: 'scheduleRestart' },
    { target: 'failed', actions: 'giveUpRestarting' },
  ],
});

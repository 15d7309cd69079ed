import { ioStep, type Outcome } from './ioStep.js';
import { vplcSetup } from './setup.js';
import { bringUp, releaseNic } from './sharedSteps.js';
import { deferDelete } from './transitions.js';

/**
 * A new runtime (or one whose container is gone): validate and fetch the image, make the networks and the
 * container, then bring it up. A failed step rolls back what was made; a DELETE meanwhile waits for the
 * step in flight and then deletes instead.
 */

/** A create step failed: say which, and roll back. Only a DELETE noted meanwhile comes first. */
function createFailed(step: 'image' | 'networks' | 'container' | 'start'): Outcome {
  return {
    first: ['deleteRequested'],
    to: '#vplc.rollingBack',
    record: { type: 'recordCreateError', params: { step } },
  };
}

export const creating = vplcSetup.createStateConfig({
  initial: 'image',
  states: {
    image: ioStep('prepare', { watch: 'delete', done: { to: 'networks' }, error: createFailed('image') }),
    networks: ioStep('createNetworks', { watch: 'delete', done: { to: 'container' }, error: createFailed('networks') }),
    container: ioStep('createContainer', {
      watch: 'delete',
      done: { to: 'start', record: 'recordContainer' },
      error: createFailed('container'),
    }),
    ...bringUp(createFailed('start')),
  },
});

/** The rollback itself failed: `failed` says what is left; a DELETE noted meanwhile retries the removal. */
const rollbackFailed: Outcome = {
  first: ['deleteRequested'],
  to: '#vplc.failed',
  actions: 'recordRollbackFailure',
  onDelete: 'recordRollbackError',
};

/** A create failed: remove what it made (same safe operations as delete), then sit in `failed`. */
export const rollingBack = vplcSetup.createStateConfig({
  initial: 'pick',
  on: { DELETE: deferDelete },
  states: {
    // No I/O: a NIC moved before a later step failed goes home before its runtime does.
    pick: { always: [{ guard: 'hasDedicatedNic', target: 'returnNic' }, { target: 'container' }] },
    returnNic: releaseNic({ to: 'container' }),
    container: ioStep('removeContainer', {
      done: { to: 'networks', actions: 'forgetContainer' },
      error: rollbackFailed,
    }),
    networks: ioStep('removeNetworks', {
      done: { first: ['deleteRequested'], to: '#vplc.failed', actions: 'recordRolledBack' },
      error: rollbackFailed,
    }),
  },
});

import type { ActorRefFrom, SnapshotFrom } from 'xstate';
import { stepActors } from './actors.js';
import { boot } from './boot.js';
import { initialContext } from './context.js';
import { creating, rollingBack } from './creating.js';
import { deleted, deleting } from './deleting.js';
import { failed } from './failed.js';
import type { VplcOps } from './ports.js';
import { reattaching } from './reattaching.js';
import { restarting } from './restarting.js';
import { crashed, running } from './running.js';
import { vplcSetup } from './setup.js';
import { adopting, starting } from './starting.js';
import { stopped, stopping } from './stopping.js';

/**
 * The lifecycle of one vPLC (an OpenPLC runtime container and its networks). Each phase lives in its own
 * file; setup.ts holds the names they use. `docs/vplc-machine.svg` draws this machine.
 *
 * Rules the shape of this machine enforces:
 * - Every engine or sidecar call is an invoked actor of exactly one leaf state (ioStep.ts), and no leaf state
 *   is left while its call is in flight: commands and facts that arrive meanwhile are remembered in context
 *   and acted on when the call settles. So there is never more than one operation on a vPLC at a time, and a
 *   late result can never race the next step.
 * - Commands a state cannot take are simply not handled: the supervisor asks `snapshot.can(event)` first
 *   and answers with a refusal sentence (messages.ts); state and context stay as they were.
 * - The watchdog: a container that dies while it should run is restarted after a backoff, within a restart
 *   budget; past the budget the vPLC sits in `failed` until the cloud acts. Docker's own restart policy must
 *   therefore be `no` for managed runtimes, or the engine and this watchdog would both restart the
 *   container and the budget would count only half of the crashes.
 * - Our own stop and delete produce `die` events; they are expected in `stopping`, `restarting.stop` and
 *   `deleting` and ignored there, so they never count as crashes.
 * - A parent interface that changes subnet (`network.changed`) is noted in any state and acted on in `running`:
 *   `reattaching` moves the vPLC to the new subnet. A vPLC that is not running then moves the next time it runs.
 */
export const vplcMachine = vplcSetup.createMachine({
  id: 'vplc',
  initial: 'boot',
  context: initialContext,
  on: {
    'dhcp.lease': { guard: 'dhcpWarning', actions: 'clearDhcpWarning' },
    // Whatever the vPLC is doing, the change is remembered; `running` acts on it.
    'network.changed': { guard: 'usesChangedInterface', actions: 'noteNetworkChange' },
  },
  states: {
    boot,
    creating,
    rollingBack,
    starting,
    adopting,
    running,
    reattaching,
    crashed,
    stopping,
    stopped,
    restarting,
    deleting,
    failed,
    deleted,
  },
});

export type * from './context.js';
export type VplcMachine = typeof vplcMachine;
export type VplcActor = ActorRefFrom<VplcMachine>;
export type VplcSnapshot = SnapshotFrom<VplcMachine>;

/** The machine with every I/O step bound to real (or fake) operations. */
export function provideVplcOps(ops: VplcOps) {
  return vplcMachine.provide({ actors: stepActors(ops) });
}

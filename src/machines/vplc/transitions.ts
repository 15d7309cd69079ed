import { not } from 'xstate';
import type { VplcOperation } from './messages.js';
import type { VplcStateConfig } from './setup.js';

/** Transitions several states share, and the names a transition may target. */

/** The phases of the lifecycle: the top-level states. */
export type VplcPhase =
  | 'boot'
  | 'creating'
  | 'rollingBack'
  | 'starting'
  | 'adopting'
  | 'running'
  | 'reattaching'
  | 'crashed'
  | 'stopping'
  | 'stopped'
  | 'restarting'
  | 'deleting'
  | 'failed'
  | 'deleted';

/** The steps inside a phase (a phase's own steps are siblings, so they are targeted by name). */
export type VplcStepState =
  | 'image'
  | 'networks'
  | 'container'
  | 'start'
  | 'attach'
  | 'dhcp'
  | 'releaseDhcp'
  | 'nic'
  | 'returnNic'
  | 'pick'
  | 'move'
  | 'stop'
  | 'backoff'
  | 'remove';

/** Where a transition goes: a sibling by name (a step, or a phase from a phase), or a phase by its id from a step. */
export type Target = VplcStepState | VplcPhase | `#vplc.${VplcPhase}`;

/** A cloud command was accepted: `op` becomes the operation in progress. */
export function begin(op: VplcOperation) {
  return { type: 'beginOperation', params: { op } } as const;
}

/** DELETE while a step is in flight: accepted now, carried out when the step settles. */
export const deferDelete = { guard: not('deleteRequested'), actions: begin('delete') } as const;

/** At rest: DELETE starts at once. */
export const deleteNow = { target: '#vplc.deleting', actions: begin('delete') } as const;

/** At rest: a removal by someone else is a failure the cloud must see. */
export const removedOutside = { target: '#vplc.failed', actions: ['forgetContainer', 'recordRemovedOutside'] } as const;

/** START or RESTART at rest: run the container that is there (through `via`), or create it again if it is gone. */
export function launch(op: 'start' | 'restart', via: Target) {
  return [
    { guard: 'hasContainer', target: via, actions: begin(op) },
    { target: '#vplc.creating', actions: begin(op) },
  ] as const satisfies VplcStateConfig['always'];
}

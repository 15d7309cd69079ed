import { stepInvocations, type VplcStep } from './actors.js';
import { type VplcAction, type VplcGuard, vplcSetup } from './setup.js';
import { deferDelete, type Target } from './transitions.js';

/**
 * The one way this machine does I/O: a step state invokes one operation and is not left until it settles.
 * What arrives meanwhile is only noted; once the step settles it comes first, in this order: a DELETE
 * (→ deleting), a removal by someone else (→ failed), a crash of the current run (→ crashed). Only then
 * does the step go where its outcome says.
 */

/** What a step notes while its call is in flight, and acts on once it settles. */
export type Meanwhile = 'deleteRequested' | 'containerGone' | 'crashPending';
const MEANWHILE: readonly Meanwhile[] = ['deleteRequested', 'containerGone', 'crashPending'];

/**
 * What a step listens for while in flight. `run`: a started container (DELETE, its crash, its removal);
 * `removal`: a container being stopped (DELETE and its removal; our own stop explains any `die`);
 * `delete`: nothing runs yet (DELETE only). A step that listens for nothing refuses DELETE.
 */
export type Watch = 'run' | 'removal' | 'delete';

const WATCH = {
  run: {
    first: MEANWHILE,
    on: {
      DELETE: deferDelete,
      'container.died': { guard: 'diedInCurrentRun', actions: 'recordExit' },
      'container.removed': { actions: 'noteContainerGone' },
    },
  },
  removal: {
    first: ['deleteRequested', 'containerGone'],
    on: { DELETE: deferDelete, 'container.removed': { actions: 'noteContainerGone' } },
  },
  delete: { first: ['deleteRequested'], on: { DELETE: deferDelete } },
} as const satisfies Record<Watch, { first: readonly Meanwhile[]; on: object }>;

type Actions = VplcAction | readonly VplcAction[];

/** A way out of a settled step that its guard picks over `to`. */
export interface Unless {
  guard: VplcGuard;
  to: Target;
  actions?: Actions;
}

/** `unless` as a list, whichever form it was given in. */
export function unlessList(unless: Outcome['unless']): readonly Unless[] {
  return unless === undefined ? [] : 'guard' in unless ? [unless] : unless;
}

/** Where a settled step goes, and what it records on the way. */
export interface Outcome {
  /** Where the step goes when nothing noted meanwhile comes first. */
  to: Target;
  /** Run on the way to `to`. */
  actions?: Actions;
  /** Run first on every way out: what the outcome tells, whatever happens next. */
  record?: Actions;
  /** Ways tried, in order, after what was noted meanwhile and before `to`. */
  unless?: Unless | readonly Unless[];
  /** Which of what was noted meanwhile comes first (default: all the step listens for). */
  first?: readonly Meanwhile[];
  /** Run when a DELETE noted meanwhile comes first. */
  onDelete?: Actions;
  /** Run when a crash noted meanwhile comes first. */
  onCrash?: Actions;
}

const list = (...actions: Array<Actions | undefined>): VplcAction[] => actions.flatMap((a) => a ?? []);

function way(guard: VplcGuard | undefined, target: Target, actions: VplcAction[]) {
  return { ...(guard ? { guard } : {}), target, ...(actions.length > 0 ? { actions } : {}) };
}

function settle(outcome: Outcome, listening: readonly Meanwhile[]) {
  const first = outcome.first ?? listening;
  const noted = MEANWHILE.filter((m) => first.includes(m));
  const record = list(outcome.record);
  return [
    ...noted.map((m) =>
      m === 'deleteRequested'
        ? way(m, '#vplc.deleting', list(record, outcome.onDelete))
        : m === 'containerGone'
          ? way(m, '#vplc.failed', list(record, 'forgetContainer', 'recordRemovedOutside'))
          : way(m, '#vplc.crashed', list(record, outcome.onCrash)),
    ),
    ...unlessList(outcome.unless).map((u) => way(u.guard, u.to, list(record, u.actions))),
    way(undefined, outcome.to, list(record, outcome.actions)),
  ];
}

/** A step state: invoke `src` (under its own name); when it settles, follow `done` or `error`. */
export function ioStep(src: VplcStep, step: { watch?: Watch; entry?: VplcAction; done: Outcome; error: Outcome }) {
  const watch = step.watch ? WATCH[step.watch] : { first: [], on: undefined };
  return vplcSetup.createStateConfig({
    ...(step.entry ? { entry: step.entry } : {}),
    ...(watch.on ? { on: watch.on } : {}),
    invoke: {
      ...stepInvocations[src],
      onDone: settle(step.done, watch.first),
      onError: settle(step.error, watch.first),
    },
  });
}

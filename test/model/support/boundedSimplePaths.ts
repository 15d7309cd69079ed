import { type AnyStateMachine, type EventObject, initialTransition, type SnapshotFrom, transition } from 'xstate';
import type { StatePath } from 'xstate/graph';

/**
 * Simple paths under an abstraction: a path never enters two snapshots with the same `identity`.
 *
 * `getSimplePaths` keys vertices by `serializeState` and keeps one representative snapshot per key, so a
 * coarse key makes it splice together paths the real machine cannot take (guards read the context it
 * dropped). This generator walks the machine's own pure `transition` from each real snapshot instead, and
 * uses `identity` only to decide what counts as a repeat. Output has the shape of `TestModel` paths
 * (first step `xstate.init`, each step holding the snapshot after its event).
 */
export function boundedSimplePaths<TMachine extends AnyStateMachine>(
  machine: TMachine,
  input: unknown,
  events: (snapshot: SnapshotFrom<TMachine>) => EventObject[],
  identity: (snapshot: SnapshotFrom<TMachine>) => string,
): Array<StatePath<SnapshotFrom<TMachine>, EventObject>> {
  type S = SnapshotFrom<TMachine>;
  const [initial] = initialTransition(machine, input as never) as unknown as [S];
  const paths: Array<StatePath<S, EventObject>> = [];
  const steps: Array<{ state: S; event: EventObject }> = [{ state: initial, event: { type: 'xstate.init' } }];
  const onPath = new Set<string>([identity(initial)]);

  const walk = (snapshot: S): void => {
    paths.push({ state: snapshot, steps: [...steps], weight: steps.length - 1 });
    for (const event of events(snapshot)) {
      const [next] = transition(machine, snapshot as never, event as never) as unknown as [S];
      const id = identity(next);
      if (onPath.has(id)) continue;
      onPath.add(id);
      steps.push({ state: next, event });
      walk(next);
      steps.pop();
      onPath.delete(id);
    }
  };
  walk(initial);
  return paths;
}

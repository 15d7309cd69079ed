import type { Logger } from 'pino';
import type { VplcOps } from '../../machines/vplc/ports.js';
import { errorText } from '../../model/errors.js';

/** Steps that make or change something in Docker: they must not start before the journal says they are in flight. */
const MAKES = ['createNetworks', 'createContainer', 'startContainer', 'moveNetworks'] as const;
/** Steps that remove or stop: they wait for the journal too, but a failed write does not keep them from cleaning up. */
const REMOVES = ['stopContainer', 'removeContainer', 'removeNetworks'] as const;

/**
 * The operations a vPLC machine invokes, each engine step started only once the journal entry of the state that
 * invoked it is durable. A step that would make something fails with the journal's sentence when the entry cannot be
 * written (so a full disk never leaves a half-made runtime that no record mentions); a step that removes something
 * goes ahead and logs, because removing is what a host with a full disk needs anyway.
 */
export function journaledOps(ops: VplcOps, journal: { journalDurable(): Promise<void> }, log: Logger): VplcOps {
  const gated: VplcOps = { ...ops };
  for (const name of MAKES) {
    const step = ops[name] as (input: never) => Promise<unknown>;
    Object.assign(gated, {
      [name]: async (input: never) => {
        await journal.journalDurable();
        return step(input);
      },
    });
  }
  for (const name of REMOVES) {
    const step = ops[name] as (input: never) => Promise<unknown>;
    Object.assign(gated, {
      [name]: async (input: never) => {
        await journal.journalDurable().catch((err: unknown) => {
          log.error(
            { step: 'journal.not_durable', op: name, err: errorText(err) },
            'removing without a durable journal',
          );
        });
        return step(input);
      },
    });
  }
  return gated;
}

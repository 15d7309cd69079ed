import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import {
  admitCommand,
  admitCreate,
  type Requester,
  type SupervisorMode,
  startsWork,
} from '../../src/machines/supervisor/admission.js';
import { vplcOf } from '../../src/machines/supervisor/children.js';
import { supervisorMachine, supervisorModeOf } from '../../src/machines/supervisor/machine.js';
import type { SupervisorEvent } from '../../src/machines/supervisor/types.js';
import { provideVplcOps } from '../../src/machines/vplc/machine.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps } from '../model/support/fakeOps.js';

const spec = (name: string): VplcSpec => ({
  name,
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.10' }],
  serials: [],
});

/** The machine alone, with one stopped vPLC (adopted) and one being created (by reconciliation), in `mode`. */
function machineIn(mode: Exclude<SupervisorMode, 'stopped'>) {
  const fake = new FakeOps();
  const actor = createActor(supervisorMachine, {
    input: { vplc: provideVplcOps(fake.ops), budget: { max: 5, windowMs: 600_000 } },
  }).start();
  actor.send({ type: 'vplc.adopt', spec: spec('plc-stopped'), observed: { state: 'stopped', containerId: 'c-1' } });
  actor.send({ type: 'vplc.create', spec: spec('plc-new'), by: 'reconciliation' });
  if (mode !== 'reconciling') actor.send({ type: 'reconciliation.finished' });
  if (mode === 'selfDestructing') actor.send({ type: 'selfDestruct.began' });
  expect(supervisorModeOf(actor.getSnapshot().value)).toBe(mode);
  return { fake, actor };
}

const MODES = ['reconciling', 'serving', 'selfDestructing'] as const;
const REQUESTERS: Requester[] = ['cloud', 'reconciliation'];
const NAMES = ['plc-stopped', 'plc-new', 'plc-missing'];

describe('supervisor machine', () => {
  it.each(MODES)('in %s takes exactly the requests the admission functions accept', (mode) => {
    const { actor } = machineIn(mode);
    const snapshot = actor.getSnapshot();
    const child = (name: string) => vplcOf(snapshot.context, name)?.getSnapshot();
    for (const by of REQUESTERS) {
      for (const name of NAMES) {
        const create: SupervisorEvent = { type: 'vplc.create', spec: spec(name), by };
        const decision = admitCreate({ mode, by }, name, child(name));
        expect(snapshot.can(create), `create ${name} by ${by}: ${JSON.stringify(decision)}`).toBe(startsWork(decision));
        for (const command of ['START', 'STOP', 'RESTART', 'DELETE'] as const) {
          const event: SupervisorEvent = { type: 'vplc.command', name, command, by };
          const decided = admitCommand({ mode, by }, name, command, child(name));
          expect(snapshot.can(event), `${command} ${name} by ${by}: ${JSON.stringify(decided)}`).toBe(
            startsWork(decided),
          );
        }
      }
    }
    actor.stop();
  });

  it('ignores a stray create for a name that is taken, and keeps supervising', () => {
    const { actor } = machineIn('serving');
    const before = vplcOf(actor.getSnapshot().context, 'plc-new');
    actor.send({ type: 'vplc.create', spec: spec('plc-new'), by: 'cloud' });
    expect(actor.getSnapshot().status).toBe('active');
    expect(vplcOf(actor.getSnapshot().context, 'plc-new')).toBe(before);
    expect(actor.getSnapshot().context.vplcs.size).toBe(2);
    actor.stop();
  });

  it('adopts only while reconciling', () => {
    const { actor } = machineIn('serving');
    actor.send({ type: 'vplc.adopt', spec: spec('plc-late'), observed: { state: 'stopped', containerId: 'c-9' } });
    expect(vplcOf(actor.getSnapshot().context, 'plc-late')).toBeUndefined();
    actor.stop();
  });

  it('stops every vPLC actor when the agent stops', () => {
    const { actor } = machineIn('serving');
    const refs = [...actor.getSnapshot().context.vplcs.values()];
    actor.send({ type: 'agent.stopping' });
    expect(actor.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(refs.map((r) => r.getSnapshot().status)).toEqual(['stopped', 'stopped']);
  });
});

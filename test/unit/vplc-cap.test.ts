import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import { admitCreate } from '../../src/machines/supervisor/admission.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps, flush } from '../model/support/fakeOps.js';

const log = pino({ level: 'silent' });
const spec = (name: string): VplcSpec => ({
  name,
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' }],
  serials: [],
});
const budget = { max: 5, windowMs: 600_000 };

describe('the cap on vPLCs (--max-vplcs)', () => {
  it('refuses a create from the cloud once the cap is reached, saying the cap and how to change it', () => {
    const fake = new FakeOps();
    const sup = new Supervisor({ ops: fake.ops, log, restartBudget: budget, maxVplcs: 2 });
    sup.reconciled();
    expect(sup.create(spec('plc-1')).accepted).toBe(true);
    expect(sup.create(spec('plc-2')).accepted).toBe(true);
    const third = sup.create(spec('plc-3'));
    expect(third).toEqual({
      accepted: false,
      reason:
        'Creating plc-3 is not possible: this agent already supervises 2 vPLCs and is configured for at most 2 (--max-vplcs 2); delete a vPLC first, or start the agent with a larger --max-vplcs (or ORCH_MAX_VPLCS) if the host has the memory and CPU for more',
    });
    expect(sup.status('plc-3')).toBeUndefined();
    expect(fake.pending('plc-3')).toEqual([]);
    sup.stop();
  });

  it('counts a vPLC until its delete has finished, then takes a create again', async () => {
    const fake = new FakeOps();
    const sup = new Supervisor({ ops: fake.ops, log, restartBudget: budget, maxVplcs: 1 });
    sup.adopt(spec('plc-1'), { state: 'stopped', containerId: 'id-1' });
    sup.reconciled();
    expect(sup.create(spec('plc-2')).accepted).toBe(false);
    const deleting = sup.command('plc-1', 'DELETE');
    expect(deleting.accepted).toBe(true);
    await flush();
    expect(sup.create(spec('plc-2')).accepted).toBe(false);
    for (const op of ['stopDhcp', 'stopContainer', 'removeContainer', 'removeNetworks'] as const) {
      fake.only(op, 'plc-1').resolve();
      await flush();
    }
    expect(sup.status('plc-1')).toBeUndefined();
    expect(sup.create(spec('plc-2')).accepted).toBe(true);
    sup.stop();
  });

  it('adopts every runtime found at start and finishes their interrupted creates, over the cap too', () => {
    const fake = new FakeOps();
    const sup = new Supervisor({ ops: fake.ops, log, restartBudget: budget, maxVplcs: 1 });
    sup.adopt(spec('plc-1'), { state: 'running', containerId: 'id-1', startedAt: '2026-01-20T10:00:00Z' });
    sup.adopt(spec('plc-2'), { state: 'stopped', containerId: 'id-2' });
    expect(sup.create(spec('plc-3'), 'reconciliation').accepted).toBe(true);
    sup.reconciled();
    expect(sup.list().map((s) => s.name)).toEqual(['plc-1', 'plc-2', 'plc-3']);
    expect(sup.create(spec('plc-4')).accepted).toBe(false);
    sup.stop();
  });

  it('is decided by the admission alone, from the count it is given', () => {
    const serving = { mode: 'serving' as const, by: 'cloud' as const };
    expect(admitCreate(serving, 'a', undefined, { supervised: 63, max: 64 }).accepted).toBe(true);
    expect(admitCreate(serving, 'a', undefined, { supervised: 64, max: 64 }).accepted).toBe(false);
    expect(
      admitCreate({ ...serving, by: 'reconciliation' }, 'a', undefined, { supervised: 64, max: 64 }).accepted,
    ).toBe(true);
  });
});

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps } from '../model/support/fakeOps.js';

const spec: VplcSpec = {
  name: 'plc-1',
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.10' }],
  serials: [],
};

describe('adoption at boot', () => {
  it('keeps a vPLC that was failed before the agent restarted in failed, with its reason, until the cloud acts', () => {
    const fake = new FakeOps();
    const sup = new Supervisor({
      ops: fake.ops,
      log: pino({ level: 'silent' }),
      restartBudget: { max: 5, windowMs: 600_000 },
    });
    const reason =
      'plc-1 stopped unexpectedly 5 times within 10 min (exit code 1); it stays stopped until you start, restart or delete it';
    sup.adopt(spec, { state: 'failed', containerId: 'c-1', failureReason: reason });
    expect(sup.status('plc-1')).toMatchObject({ phase: 'failed', failure: { reason } });
    expect(fake.pending()).toEqual([]);
    sup.reconciled();
    expect(sup.command('plc-1', 'START').accepted).toBe(true);
    expect(sup.status('plc-1')?.phase).toBe('starting');
    sup.stop();
  });
});

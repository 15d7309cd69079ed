import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { SelfDestruct, type SelfDestructEngine } from '../../src/actors/orchestrator/selfDestruct.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps, flush } from '../model/support/fakeOps.js';

const log = pino({ level: 'silent' });
const spec = (name: string): VplcSpec => ({
  name,
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.10' }],
  serials: [],
});

async function settleAll(fake: FakeOps, name: string) {
  const outputs: Record<string, unknown> = {
    createContainer: { containerId: `id-${name}` },
    startContainer: { containerId: `id-${name}`, startedAt: '2026-01-20T10:00:00.000Z' },
    attachAgent: { internalIp: '172.30.0.2' },
  };
  for (let i = 0; i < 30 && fake.pending(name).length > 0; i++) {
    fake.pending(name)[0]!.resolve(outputs[fake.pending(name)[0]!.op]);
    await flush();
  }
}

describe('delete_orchestrator', () => {
  it('refuses creates from the moment it is accepted and deletes every vPLC through its lifecycle', async () => {
    const fake = new FakeOps();
    const sup = new Supervisor({ ops: fake.ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
    sup.reconciled();
    const created = sup.create(spec('plc-1'));
    await settleAll(fake, 'plc-1');
    expect(created.accepted && (await created.done)).toEqual({ success: true });

    const removed: string[] = [];
    const engine: SelfDestructEngine = {
      networksByDriver: async () => [],
      removeNetworkIfUnused: async () => 'removed',
      stopContainer: async () => 'stopped',
      removeContainer: async (name) => {
        removed.push(name);
        return 'removed';
      },
      removeVolume: async () => 'removed',
      findSelf: async () => ({ id: 'self', name: 'orchestrator_agent' }),
    };
    const selfDestruct = new SelfDestruct({ supervisor: sup, engine, clearRecords: async () => {}, log });
    expect(selfDestruct.begin()).toMatchObject({ status: 'accepted' });
    // The work starts a moment after the ack; a create arriving in between finds the agent self-destructing.
    expect(sup.mode).toBe('selfDestructing');
    expect(sup.create(spec('plc-2'))).toMatchObject({
      accepted: false,
      reason: expect.stringMatching(/^Creating plc-2 is not possible: delete_orchestrator/),
    });

    await vi.waitFor(() => expect(fake.pending('plc-1')).toHaveLength(1));
    await settleAll(fake, 'plc-1');
    // The agent removes itself only once a poll (as the cloud's get_device_status) delivered the final step.
    await vi.waitFor(() => expect(selfDestruct.status()).toMatchObject({ status: 'deleted', step: 'done' }));
    expect(removed).not.toContain('orchestrator_agent');
    await vi.waitFor(() => expect(removed).toContain('orchestrator_agent'));
    expect(sup.list()).toEqual([]);
    expect(selfDestruct.status()).toMatchObject({ status: 'deleted', step: 'done' });
    sup.stop();
  });
});

import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { refusal } from '../../src/machines/vplc/messages.js';
import { vplcMachine } from '../../src/machines/vplc/machine.js';
import { backoffMs, RESTART_BACKOFF } from '../../src/model/backoff.js';

const restartBackoffMs = (attempt: number, random: () => number) => backoffMs(attempt, RESTART_BACKOFF, random);
import { MODEL_SPEC } from '../model/support/vplcGraph.js';
import { refusalSubject, VplcHarness } from '../model/support/vplcHarness.js';

const spec = MODEL_SPEC;
const done = (h: VplcHarness, op: string, output?: unknown) => h.apply({ type: `xstate.done.actor.${op}`, output });
const fail = (h: VplcHarness, op: string, message: string) =>
  h.apply({ type: `xstate.error.actor.${op}`, error: new Error(message) });
const started = { containerId: 'c-1', startedAt: '2026-01-20T10:00:00.000Z' };

async function created(): Promise<VplcHarness> {
  const h = VplcHarness.start({ spec });
  await done(h, 'prepare');
  await done(h, 'createNetworks');
  await done(h, 'createContainer', { containerId: 'c-1' });
  await done(h, 'startContainer', started);
  await done(h, 'attachAgent');
  await done(h, 'startDhcp');
  return h;
}

describe('vPLC machine', () => {
  it('creates step by step and reports the create once it runs', async () => {
    const h = await created();
    expect(h.snapshot.value).toBe('running');
    expect(h.snapshot.context).toMatchObject({ containerId: 'c-1', operation: null });
    expect(h.fake.calls.map((c) => c.op)).toEqual([
      'prepare',
      'createNetworks',
      'createContainer',
      'startContainer',
      'attachAgent',
      'startDhcp',
    ]);
    expect(h.ended).toEqual([{ type: 'operation.ended', operation: 'create', success: true, error: null }]);
  });

  it('refuses STOP while creating and keeps creating', async () => {
    const h = VplcHarness.start({ spec });
    await done(h, 'prepare');
    const before = h.snapshot;
    expect(before.can({ type: 'STOP' })).toBe(false);
    // The sentence the supervisor answers with, from what the snapshot says (not from a subject built here).
    expect(refusal('STOP', refusalSubject(before))).toBe('plc-1 is being created; stop is possible once it is running');
    h.actor.send({ type: 'STOP' });
    expect(h.snapshot.value).toEqual({ creating: 'networks' });
    expect(h.snapshot.context).toEqual(before.context);
  });

  it('rolls back a failed create and fails with the reason and operation create', async () => {
    const h = VplcHarness.start({ spec });
    await done(h, 'prepare');
    await done(h, 'createNetworks');
    await done(h, 'createContainer', { containerId: 'c-1' });
    await fail(h, 'startContainer', 'error setting rlimit type 14: operation not permitted');
    expect(h.snapshot.value).toEqual({ rollingBack: 'container' });
    await done(h, 'removeContainer');
    await done(h, 'removeNetworks');
    const s = h.snapshot;
    expect(s.value).toBe('failed');
    expect(s.context.containerId).toBeNull();
    expect(s.context.failure?.operation).toBe('create');
    expect(s.context.failure?.reason).toBe(
      'creating plc-1 failed while starting its container: error setting rlimit type 14: operation not permitted; ' +
        'everything created for it was removed, so fix the cause and start it to create it again, or delete it',
    );
    expect(h.ended).toEqual([
      { type: 'operation.ended', operation: 'create', success: false, error: s.context.failure?.reason },
    ]);
    // START re-creates it from nothing, since nothing is left.
    h.actor.send({ type: 'START' });
    expect(h.snapshot.value).toEqual({ creating: 'image' });
  });

  it('takes DELETE mid-create, lets the step in flight finish, then cleans up', async () => {
    const h = VplcHarness.start({ spec });
    await done(h, 'prepare');
    h.actor.send({ type: 'DELETE' });
    expect(h.snapshot.value).toEqual({ creating: 'networks' });
    expect(h.ended).toEqual([
      {
        type: 'operation.ended',
        operation: 'create',
        success: false,
        error: 'the create of plc-1 was cancelled because plc-1 is being deleted',
      },
    ]);
    expect(h.snapshot.can({ type: 'DELETE' })).toBe(false);
    await done(h, 'createNetworks');
    expect(h.snapshot.value).toEqual({ deleting: 'releaseDhcp' });
    for (const op of ['stopDhcp', 'stopContainer', 'removeContainer', 'removeNetworks']) await done(h, op);
    expect(h.snapshot.status).toBe('done');
    expect(h.ended.at(-1)).toEqual({ type: 'operation.ended', operation: 'delete', success: true, error: null });
  });

  it('fails a delete step with the reason and retries on DELETE', async () => {
    const h = await created();
    h.actor.send({ type: 'DELETE' });
    await done(h, 'stopDhcp');
    await done(h, 'stopContainer');
    await fail(h, 'removeContainer', 'engine did not answer within 30 s');
    expect(h.snapshot.value).toBe('failed');
    expect(h.snapshot.context.failure).toMatchObject({
      operation: 'delete',
      reason:
        'deleting plc-1 failed while removing its container: engine did not answer within 30 s; delete it again to retry',
    });
    h.actor.send({ type: 'DELETE' });
    for (const op of ['stopDhcp', 'stopContainer', 'removeContainer', 'removeNetworks']) await done(h, op);
    expect(h.snapshot.value).toBe('deleted');
  });

  it('treats a container removed by someone else as a failure the cloud can act on', async () => {
    const h = await created();
    h.actor.send({ type: 'container.removed' });
    expect(h.snapshot.value).toBe('failed');
    expect(h.snapshot.context.containerId).toBeNull();
    expect(h.snapshot.context.failure?.reason).toMatch(/removed outside the agent/);
  });

  it('keeps running when only the DHCP request fails, and a lease clears the warning', async () => {
    const h = VplcHarness.start({ spec, initial: 'running', containerId: 'c-1', startedAt: started.startedAt });
    await done(h, 'attachAgent');
    await fail(h, 'startDhcp', 'network monitor is not connected');
    expect(h.snapshot.value).toBe('running');
    expect(h.snapshot.context.lastError).toMatch(/plc-1 runs, but requesting its DHCP lease failed/);
    h.actor.send({ type: 'dhcp.lease', vnicName: 'lan', ip: '192.168.1.77', gateway: '192.168.1.1' });
    expect(h.snapshot.context.lastError).toBeNull();
  });

  it('moves to the new subnet when a parent interface changes: DHCP released, networks moved, DHCP again', async () => {
    const h = await created();
    h.actor.send({ type: 'network.changed', parentInterface: 'eth1' });
    expect(h.snapshot.value).toBe('running');
    h.actor.send({ type: 'network.changed', parentInterface: 'eth0' });
    expect(h.snapshot.value).toEqual({ reattaching: 'releaseDhcp' });
    expect(h.snapshot.can({ type: 'STOP' })).toBe(false);
    await done(h, 'stopDhcp');
    expect(h.snapshot.value).toEqual({ reattaching: 'move' });
    expect(h.fake.only('moveNetworks')).toBeTruthy();
    await done(h, 'moveNetworks', { conflicts: [] });
    await done(h, 'startDhcp');
    expect(h.snapshot.value).toBe('running');
    expect(h.snapshot.context.lastError).toBeNull();
    expect(h.fake.calls.map((c) => c.op).slice(-3)).toEqual(['stopDhcp', 'moveNetworks', 'startDhcp']);
    expect(h.ended).toHaveLength(1);
  });

  it('reports a conflict of the move in lastError, keeps it through a restart and clears it on a clean move', async () => {
    const h = await created();
    h.actor.send({ type: 'network.changed', parentInterface: 'eth0' });
    await done(h, 'stopDhcp');
    const conflict = 'vNIC lan of plc-1: static IP 192.168.1.77 is outside the new subnet 10.0.0.0/24 of eth0';
    await done(h, 'moveNetworks', { conflicts: [conflict] });
    await fail(h, 'startDhcp', 'sidecar away');
    expect(h.snapshot.value).toBe('running');
    expect(h.snapshot.context.lastError).toBe(conflict);
    h.actor.send({ type: 'RESTART' });
    for (const op of ['stopDhcp', 'stopContainer']) await done(h, op);
    await done(h, 'startContainer', started);
    await done(h, 'attachAgent');
    await done(h, 'startDhcp');
    expect(h.snapshot.context.lastError).toBe(conflict);
    h.actor.send({ type: 'network.changed', parentInterface: 'eth0' });
    await done(h, 'stopDhcp');
    await done(h, 'moveNetworks', { conflicts: [] });
    await done(h, 'startDhcp');
    expect(h.snapshot.context.lastError).toBeNull();
  });

  it('keeps running with a sentence when the move fails', async () => {
    const h = await created();
    h.actor.send({ type: 'network.changed', parentInterface: 'eth0' });
    await done(h, 'stopDhcp');
    await fail(h, 'moveNetworks', 'Docker did not answer within 30 s');
    await done(h, 'startDhcp');
    expect(h.snapshot.value).toBe('running');
    expect(h.snapshot.context.lastError).toBe(
      'plc-1 runs, but moving it to the new subnet of interface eth0 failed (Docker did not answer within 30 s); it is tried again on the next change of that interface, or delete and create it again',
    );
  });

  it('remembers a change that arrives while stopped and moves once it runs again', async () => {
    const h = await created();
    h.actor.send({ type: 'STOP' });
    await done(h, 'stopDhcp');
    await done(h, 'stopContainer');
    expect(h.snapshot.value).toBe('stopped');
    h.actor.send({ type: 'network.changed', parentInterface: 'eth0' });
    expect(h.snapshot.value).toBe('stopped');
    h.actor.send({ type: 'START' });
    await done(h, 'startContainer', started);
    await done(h, 'attachAgent');
    await done(h, 'startDhcp');
    expect(h.snapshot.value).toEqual({ reattaching: 'releaseDhcp' });
    expect(h.ended.at(-1)).toEqual({ type: 'operation.ended', operation: 'start', success: true, error: null });
  });

  it('moves again after a second change that arrived during the move', async () => {
    const h = await created();
    h.actor.send({ type: 'network.changed', parentInterface: 'eth0' });
    await done(h, 'stopDhcp');
    h.actor.send({ type: 'network.changed', parentInterface: 'eth0' });
    await done(h, 'moveNetworks', { conflicts: [] });
    await done(h, 'startDhcp');
    expect(h.snapshot.value).toEqual({ reattaching: 'releaseDhcp' });
  });

  it('defers DELETE during a move and deletes once the move settled', async () => {
    const h = await created();
    h.actor.send({ type: 'network.changed', parentInterface: 'eth0' });
    await done(h, 'stopDhcp');
    h.actor.send({ type: 'DELETE' });
    expect(h.snapshot.value).toEqual({ reattaching: 'move' });
    await done(h, 'moveNetworks', { conflicts: [] });
    expect(h.snapshot.value).toEqual({ deleting: 'releaseDhcp' });
  });

  it('puts the move back after a crash mid-move and moves once the watchdog has it running', async () => {
    const h = await created();
    h.actor.send({ type: 'network.changed', parentInterface: 'eth0' });
    h.actor.send({ type: 'container.died', exitCode: 1, oomKilled: false, at: '2026-01-20T10:00:01.000Z' });
    await done(h, 'stopDhcp');
    expect(h.snapshot.value).toEqual({ restarting: 'releaseDhcp' });
    expect(h.snapshot.context.networkChanges).toEqual(['eth0']);
  });

  it('adopts what boot reconciliation found', () => {
    const stopped = VplcHarness.start({ spec, initial: 'stopped', containerId: 'c-9' });
    expect(stopped.snapshot.value).toBe('stopped');
    const missing = VplcHarness.start({ spec, initial: 'missing' });
    expect(missing.snapshot.value).toBe('failed');
    expect(missing.snapshot.context.failure?.reason).toBe(
      'the container of plc-1 no longer exists; start it to create it again, or delete it',
    );
  });

  it('rejects every operation that was not provided', async () => {
    const actor = createActor(vplcMachine, { input: { spec } });
    actor.subscribe({ error: () => {} });
    actor.start();
    await new Promise((r) => setTimeout(r, 10));
    expect(actor.getSnapshot().context.lastError).toMatch(/prepare was not provided/);
    actor.stop();
  });

  it('backs off from 1 s doubling to a 5 min cap, jittered by at most 20 %', () => {
    expect([0, 1, 2, 3, 8, 9, 20].map((a) => restartBackoffMs(a, () => 0.5))).toEqual([
      1_000, 2_000, 4_000, 8_000, 256_000, 300_000, 300_000,
    ]);
    expect(restartBackoffMs(3, () => 0)).toBe(6_400);
    expect(restartBackoffMs(3, () => 0.999999)).toBe(9_600);
    expect(restartBackoffMs(20, () => 0.999999)).toBe(300_000);
  });
});

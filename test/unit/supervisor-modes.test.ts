import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type Admission, type CommandName, Supervisor } from '../../src/actors/vplc/supervisor.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps, flush } from '../model/support/fakeOps.js';

const log = pino({ level: 'silent' });
const spec = (name: string): VplcSpec => ({
  name,
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.10' }],
  serials: [],
});

function atBoot() {
  const fake = new FakeOps();
  return { fake, sup: new Supervisor({ ops: fake.ops, log, restartBudget: { max: 5, windowMs: 600_000 } }) };
}

function accepted(a: Admission): Promise<unknown> {
  if (!a.accepted) throw new Error(`refused: ${a.reason}`);
  return a.done;
}

/** Let every operation in flight for `name` succeed until nothing is pending for it any more. */
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

/** Two vPLCs created and running, with the cloud served. */
async function twoRunning() {
  const { fake, sup } = atBoot();
  sup.reconciled();
  const done = [accepted(sup.create(spec('plc-1'))), accepted(sup.create(spec('plc-2')))];
  await settleAll(fake, 'plc-1');
  await settleAll(fake, 'plc-2');
  await Promise.all(done);
  return { fake, sup };
}

const stillReconciling = (doing: string, name: string) =>
  `${doing} ${name} is not possible yet: the agent has just started and is still taking over the runtimes it found; try again in a moment`;

describe('Supervisor while boot reconciliation runs', () => {
  it('adopts runtimes and refuses the cloud with a sentence, changing nothing', () => {
    const { fake, sup } = atBoot();
    expect(sup.mode).toBe('reconciling');
    sup.adopt(spec('plc-1'), { state: 'stopped', containerId: 'id-plc-1' });
    expect(sup.status('plc-1')?.state).toBe('stopped');

    expect(sup.create(spec('plc-2'))).toEqual({ accepted: false, reason: stillReconciling('Creating', 'plc-2') });
    const doing: Record<CommandName, string> = {
      START: 'Starting',
      STOP: 'Stopping',
      RESTART: 'Restarting',
      DELETE: 'Deleting',
    };
    for (const cmd of ['START', 'STOP', 'RESTART', 'DELETE'] as const) {
      expect(sup.command('plc-1', cmd)).toEqual({ accepted: false, reason: stillReconciling(doing[cmd], 'plc-1') });
    }
    expect(sup.list().map((s) => [s.name, s.state])).toEqual([['plc-1', 'stopped']]);
    expect(fake.pending()).toEqual([]);
    sup.stop();
  });

  it("carries out reconciliation's own creates and commands: the operations a crash interrupted", async () => {
    const { fake, sup } = atBoot();
    sup.adopt(spec('plc-1'), { state: 'stopped', containerId: 'id-plc-1' });
    const started = accepted(sup.command('plc-1', 'START', 'reconciliation'));
    const created = accepted(sup.create(spec('plc-2'), 'reconciliation'));
    expect(sup.create(spec('plc-2'), 'reconciliation')).toEqual({
      accepted: false,
      reason: 'plc-2 already exists (creating); delete it before creating it again',
    });
    await settleAll(fake, 'plc-1');
    await settleAll(fake, 'plc-2');
    await expect(started).resolves.toEqual({ success: true });
    await expect(created).resolves.toEqual({ success: true });
    expect(sup.mode).toBe('reconciling');
    sup.stop();
  });

  it('serves the cloud once reconciliation finished, and adopts nothing more', async () => {
    const { fake, sup } = atBoot();
    sup.adopt(spec('plc-1'), { state: 'stopped', containerId: 'id-plc-1' });
    sup.reconciled();
    expect(sup.mode).toBe('serving');
    sup.adopt(spec('plc-2'), { state: 'stopped', containerId: 'id-plc-2' });
    expect(sup.status('plc-2')).toBeUndefined();
    const started = accepted(sup.command('plc-1', 'START'));
    const created = accepted(sup.create(spec('plc-2')));
    await settleAll(fake, 'plc-1');
    await settleAll(fake, 'plc-2');
    await expect(started).resolves.toEqual({ success: true });
    await expect(created).resolves.toEqual({ success: true });
    // A second "finished" changes nothing.
    sup.reconciled();
    expect(sup.mode).toBe('serving');
    sup.stop();
  });
});

describe('Supervisor while self-destructing', () => {
  const removing = (doing: string, name: string) =>
    `${doing} ${name} is not possible: delete_orchestrator is removing this agent and every runtime it manages, ${name} included`;

  it('refuses creates, from anyone, with a sentence', async () => {
    const { sup } = await twoRunning();
    sup.beginSelfDestruct();
    expect(sup.mode).toBe('selfDestructing');
    const reason =
      'Creating plc-3 is not possible: delete_orchestrator is removing this agent and every runtime it manages; install the agent again to create runtimes on this host';
    expect(sup.create(spec('plc-3'))).toEqual({ accepted: false, reason });
    expect(sup.create(spec('plc-3'), 'reconciliation')).toEqual({ accepted: false, reason });
    expect(sup.status('plc-3')).toBeUndefined();
    sup.stop();
  });

  it('refuses START, STOP and RESTART with a sentence and leaves the vPLC as it was', async () => {
    const { fake, sup } = await twoRunning();
    sup.beginSelfDestruct();
    const before = sup.status('plc-1');
    expect(sup.command('plc-1', 'STOP')).toEqual({ accepted: false, reason: removing('Stopping', 'plc-1') });
    expect(sup.command('plc-1', 'RESTART')).toEqual({ accepted: false, reason: removing('Restarting', 'plc-1') });
    expect(sup.command('plc-1', 'START')).toEqual({ accepted: false, reason: removing('Starting', 'plc-1') });
    expect(sup.status('plc-1')).toEqual(before);
    expect(fake.pending()).toEqual([]);
    sup.stop();
  });

  it('carries out the deletes of the remaining vPLCs, and says so for a name that is gone', async () => {
    const { fake, sup } = await twoRunning();
    sup.beginSelfDestruct();
    const deleted = accepted(sup.command('plc-1', 'DELETE'));
    // The same DELETE again joins the one in progress.
    const again = accepted(sup.command('plc-1', 'DELETE'));
    await settleAll(fake, 'plc-1');
    await expect(deleted).resolves.toEqual({ success: true });
    await expect(again).resolves.toEqual({ success: true });
    expect(sup.list().map((s) => s.name)).toEqual(['plc-2']);
    expect(sup.command('plc-1', 'DELETE')).toEqual({
      accepted: false,
      reason: 'plc-1 does not exist; create it first',
    });
    // A second delete_orchestrator (after a failed step) keeps it self-destructing.
    sup.beginSelfDestruct();
    expect(sup.mode).toBe('selfDestructing');
    const last = accepted(sup.command('plc-2', 'DELETE', 'reconciliation'));
    await settleAll(fake, 'plc-2');
    await expect(last).resolves.toEqual({ success: true });
    expect(sup.list()).toEqual([]);
    sup.stop();
  });

  it('can begin while reconciliation still runs, and reconciliation finishing does not end it', () => {
    const { sup } = atBoot();
    sup.beginSelfDestruct();
    sup.reconciled();
    expect(sup.mode).toBe('selfDestructing');
    sup.adopt(spec('plc-1'), { state: 'stopped', containerId: 'id-plc-1' });
    expect(sup.status('plc-1')).toBeUndefined();
    sup.stop();
  });
});

describe('self-destruct steps as the supervisor state', () => {
  const rootState = (sup: Supervisor) => sup.actorRefs()[0]!.ref.getSnapshot().value;

  it('runs the steps in selfDestructing.working, and finished once they are done', async () => {
    const { sup } = await twoRunning();
    let finish!: () => void;
    let runs = 0;
    sup.beginSelfDestruct(() => {
      runs++;
      return new Promise<void>((resolve) => {
        finish = resolve;
      });
    });
    expect(rootState(sup)).toEqual({ selfDestructing: 'working' });
    expect(runs).toBe(1);
    finish();
    await flush();
    expect(rootState(sup)).toEqual({ selfDestructing: 'finished' });
    expect(sup.mode).toBe('selfDestructing');
    // Finished is not a way back: creates stay refused, and a second begin starts nothing.
    expect(sup.create(spec('plc-3')).accepted).toBe(false);
    sup.beginSelfDestruct(async () => {
      runs++;
    });
    expect(runs).toBe(1);
    sup.stop();
  });

  it('goes to failed when a step fails, keeps refusing, and starts the steps over when asked again', async () => {
    const { sup } = await twoRunning();
    sup.beginSelfDestruct(async () => {
      throw new Error('could not delete plc-1');
    });
    await flush();
    expect(rootState(sup)).toEqual({ selfDestructing: 'failed' });
    expect(sup.create(spec('plc-3')).accepted).toBe(false);
    expect(sup.command('plc-1', 'START').accepted).toBe(false);
    let again = 0;
    sup.beginSelfDestruct(async () => {
      again++;
    });
    expect(again).toBe(1);
    await flush();
    expect(rootState(sup)).toEqual({ selfDestructing: 'finished' });
    sup.stop();
  });

  it('fails, and says why, when it begins without its steps', async () => {
    const { sup } = await twoRunning();
    sup.beginSelfDestruct();
    await flush();
    expect(rootState(sup)).toEqual({ selfDestructing: 'failed' });
    sup.stop();
  });

  it('tells running steps that the agent is shutting down', async () => {
    const { sup } = await twoRunning();
    let signal: AbortSignal | undefined;
    sup.beginSelfDestruct((s) => {
      signal = s;
      return new Promise<void>(() => {});
    });
    expect(signal?.aborted).toBe(false);
    sup.stop();
    expect(signal?.aborted).toBe(true);
  });
});

describe('Supervisor once stopped', () => {
  it('stops every vPLC actor and refuses everything with a sentence', async () => {
    const { fake, sup } = atBoot();
    sup.reconciled();
    sup.create(spec('plc-1'));
    const calls = fake.calls.length;
    sup.stop();
    expect(sup.mode).toBe('stopped');
    // The vPLC actor is gone: the step in flight ending starts nothing more.
    fake.only('prepare', 'plc-1').resolve();
    await flush();
    expect(fake.calls.length).toBe(calls);
    expect(sup.create(spec('plc-2'))).toEqual({
      accepted: false,
      reason: 'the agent is shutting down; plc-2 cannot take commands now',
    });
    expect(sup.command('plc-1', 'STOP')).toEqual({
      accepted: false,
      reason: 'the agent is shutting down; plc-1 cannot take commands now',
    });
    sup.stop();
  });
});

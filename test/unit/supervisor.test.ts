import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { type Admission, Supervisor, type VplcStatus } from '../../src/actors/vplc/supervisor.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps, flush } from '../model/support/fakeOps.js';

const log = pino({ level: 'silent' });
const spec = (name: string): VplcSpec => ({
  name,
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.10' }],
  serials: [],
});
const STARTED = '2026-01-20T10:00:00.000Z';

/** A supervisor as the agent has it at start, before boot reconciliation finished. */
function atBoot(fake = new FakeOps()) {
  return { fake, sup: new Supervisor({ ops: fake.ops, log, restartBudget: { max: 5, windowMs: 600_000 } }) };
}

/** A supervisor serving the cloud (reconciliation found nothing). */
function supervisor(fake = new FakeOps()) {
  const booted = atBoot(fake);
  booted.sup.reconciled();
  return booted;
}

async function finishCreate(fake: FakeOps, name: string, createOutput: unknown = { containerId: `id-${name}` }) {
  const outputs: Record<string, unknown> = {
    createContainer: createOutput,
    startContainer: { containerId: `id-${name}`, startedAt: STARTED },
    attachAgent: undefined,
  };
  for (const op of [
    'prepare',
    'createNetworks',
    'createContainer',
    'startContainer',
    'attachAgent',
    'startDhcp',
  ] as const) {
    const call = fake.pending(name).find((c) => c.op === op);
    if (!call) return;
    call.resolve(outputs[op]);
    await flush();
  }
}

function accepted(a: Admission): Promise<unknown> {
  if (!a.accepted) throw new Error(`refused: ${a.reason}`);
  return a.done;
}

describe('Supervisor', () => {
  it('creates a vPLC and resolves done once it runs', async () => {
    const { fake, sup } = supervisor();
    const done = accepted(sup.create(spec('plc-1')));
    expect(sup.status('plc-1')).toMatchObject({
      state: 'creating.image',
      phase: 'creating',
      step: 'image',
      operation: 'create',
    });
    await finishCreate(fake, 'plc-1');
    await expect(done).resolves.toEqual({ success: true });
    const status = sup.status('plc-1')!;
    expect(status).toMatchObject({
      state: 'running',
      phase: 'running',
      step: null,
      operation: null,
      operationStartedAt: null,
      containerId: 'id-plc-1',
      desired: 'running',
      restartCount: 0,
      startedAt: STARTED,
    });
    sup.stop();
  });

  it('refuses a create for a name that exists in any state, and commands for names that do not', async () => {
    const { fake, sup } = supervisor();
    sup.create(spec('plc-1'));
    expect(sup.create(spec('plc-1'))).toEqual({
      accepted: false,
      reason: 'plc-1 already exists (creating); delete it before creating it again',
    });
    await finishCreate(fake, 'plc-1');
    expect(sup.create(spec('plc-1'))).toEqual({
      accepted: false,
      reason: 'plc-1 already exists (running); delete it before creating it again',
    });
    expect(sup.command('plc-9', 'START')).toEqual({ accepted: false, reason: 'plc-9 does not exist; create it first' });
    sup.stop();
  });

  it('refuses STOP while creating with a sentence and leaves the vPLC as it was', async () => {
    const { fake, sup } = supervisor();
    sup.create(spec('plc-1'));
    const before = sup.status('plc-1');
    expect(sup.command('plc-1', 'STOP')).toEqual({
      accepted: false,
      reason: 'plc-1 is being created; stop is possible once it is running',
    });
    expect(sup.status('plc-1')).toEqual(before);
    expect(fake.pending().map((c) => c.op)).toEqual(['prepare']);
    sup.stop();
  });

  it('stops and starts for real and reports when each ends', async () => {
    const { fake, sup } = supervisor();
    sup.create(spec('plc-1'));
    await finishCreate(fake, 'plc-1');
    const stop = accepted(sup.command('plc-1', 'STOP'));
    // The same command again joins the one in progress instead of being refused.
    const again = accepted(sup.command('plc-1', 'STOP'));
    fake.only('stopDhcp').resolve();
    await flush();
    fake.only('stopContainer').resolve();
    await expect(stop).resolves.toEqual({ success: true });
    await expect(again).resolves.toEqual({ success: true });
    expect(sup.status('plc-1')).toMatchObject({ state: 'stopped', desired: 'stopped' });

    const start = accepted(sup.command('plc-1', 'START'));
    fake.only('startContainer').reject(new Error('device /dev/ttyUSB0 is gone'));
    await expect(start).resolves.toEqual({
      success: false,
      error: 'starting plc-1 failed: device /dev/ttyUSB0 is gone',
    });
    expect(sup.status('plc-1')).toMatchObject({
      state: 'failed',
      operation: 'start',
      failure: { reason: 'starting plc-1 failed: device /dev/ttyUSB0 is gone' },
    });
    sup.stop();
  });

  it('turns a crashing vPLC actor into that vPLC failing, and the others carry on', async () => {
    const { fake, sup } = supervisor();
    const broken = accepted(sup.create(spec('plc-1')));
    const healthy = accepted(sup.create(spec('plc-2')));
    // A broken ops implementation: createContainer resolves without the container id the machine reads.
    await finishCreate(fake, 'plc-1', null);
    await expect(broken).resolves.toMatchObject({ success: false });
    const status = sup.status('plc-1')!;
    expect(status.state).toBe('failed');
    expect(status.failure?.reason).toMatch(
      /^the lifecycle of plc-1 hit an internal error \(.+\); start, restart or delete it$/,
    );
    await finishCreate(fake, 'plc-2');
    await expect(healthy).resolves.toEqual({ success: true });
    // The replacement takes commands like any failed vPLC.
    const del = accepted(sup.command('plc-1', 'DELETE'));
    for (const op of ['stopDhcp', 'stopContainer', 'removeContainer', 'removeNetworks'] as const) {
      fake.only(op, 'plc-1').resolve();
      await flush();
    }
    await expect(del).resolves.toEqual({ success: true });
    expect(sup.status('plc-1')).toBeUndefined();
    expect(sup.list().map((s) => s.name)).toEqual(['plc-2']);
    sup.stop();
  });

  it('routes engine facts to the right vPLC and ignores facts about unknown names', async () => {
    const { fake, sup } = supervisor();
    sup.create(spec('plc-1'));
    sup.create(spec('plc-2'));
    await finishCreate(fake, 'plc-1');
    await finishCreate(fake, 'plc-2');
    sup.notify('plc-2', { type: 'container.died', exitCode: 139, oomKilled: false, at: new Date().toISOString() });
    sup.notify('not-ours', { type: 'container.removed' });
    expect(sup.status('plc-1')?.state).toBe('running');
    expect(sup.status('plc-2')).toMatchObject({ state: 'restarting.releaseDhcp', restartCount: 1 });
    expect(sup.status('plc-2')?.lastError).toMatch(/^plc-2 stopped unexpectedly \(exit code 139\); restarting in/);
    sup.stop();
  });

  it('adopts runtimes found at boot in the state Docker shows', async () => {
    const { fake, sup } = atBoot();
    sup.adopt(spec('plc-1'), { state: 'running', containerId: 'id-1', startedAt: STARTED });
    sup.adopt(spec('plc-2'), { state: 'stopped', containerId: 'id-2' });
    sup.adopt(spec('plc-3'), { state: 'missing', containerId: null });
    expect(sup.list().map((s) => [s.name, s.state])).toEqual([
      ['plc-1', 'adopting.attach'],
      ['plc-2', 'stopped'],
      ['plc-3', 'failed'],
    ]);
    fake.only('attachAgent').resolve(undefined);
    await flush();
    fake.only('startDhcp').resolve();
    await flush();
    expect(sup.status('plc-1')).toMatchObject({ state: 'running', operation: null });
    sup.stop();
  });

  it('tells listeners about every change and lets dev tooling inspect on demand', async () => {
    const { fake, sup } = supervisor();
    const seen: VplcStatus[] = [];
    const off = sup.onChange((s) => seen.push(s));
    const events: InspectionEvent[] = [];
    const stopInspecting = sup.inspect((e) => events.push(e));
    sup.create(spec('plc-1'));
    await finishCreate(fake, 'plc-1');
    expect(seen.map((s) => s.state)).toEqual([
      'creating.image',
      'creating.networks',
      'creating.container',
      'creating.start',
      'creating.attach',
      'creating.dhcp',
      'running',
    ]);
    expect(events.some((e) => e.type === '@xstate.snapshot')).toBe(true);
    stopInspecting();
    off();
    const count = events.length;
    sup.command('plc-1', 'STOP');
    expect(events.length).toBe(count);
    expect(seen.at(-1)?.state).toBe('running');
    sup.stop();
  });

  it('ends every waiting operation when it stops', async () => {
    const { sup } = supervisor();
    const done = accepted(sup.create(spec('plc-1')));
    sup.stop();
    await expect(done).resolves.toEqual({
      success: false,
      error: 'the agent is shutting down; the create of plc-1 was interrupted',
    });
  });
});

/** Names that are also properties every plain JavaScript object has (or that make an object look like a promise). */
const OBJECT_PROPERTY_NAMES = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'then'];

/** Let every operation in flight for `name` succeed until nothing is pending for it any more. */
async function settleAll(fake: FakeOps, name: string) {
  const outputs: Record<string, unknown> = {
    createContainer: { containerId: `id-${name}` },
    startContainer: { containerId: `id-${name}`, startedAt: STARTED },
    attachAgent: undefined,
  };
  for (let i = 0; i < 30; i++) {
    const call = fake.pending(name)[0];
    if (!call) return;
    call.resolve(outputs[call.op]);
    await flush();
  }
  throw new Error(`${name} did not come to rest`);
}

describe('Supervisor with vPLC names that are property names of plain objects', () => {
  it.each(OBJECT_PROPERTY_NAMES)('refuses a command to a missing vPLC called %s as not found', async (name) => {
    const { fake, sup } = supervisor();
    for (const cmd of ['START', 'STOP', 'RESTART', 'DELETE'] as const) {
      expect(sup.command(name, cmd)).toEqual({ accepted: false, reason: `${name} does not exist; create it first` });
    }
    expect(sup.status(name)).toBeUndefined();
    expect(sup.list()).toEqual([]);
    sup.notify(name, { type: 'container.removed' });
    // Supervision still answers for everyone else.
    const created = accepted(sup.create(spec('plc-1')));
    await settleAll(fake, 'plc-1');
    await expect(created).resolves.toEqual({ success: true });
    expect(sup.command('plc-1', 'START')).toEqual({ accepted: false, reason: 'plc-1 is already running' });
    sup.stop();
  });

  it.each(OBJECT_PROPERTY_NAMES)('creates, commands, lists and deletes a vPLC called %s', async (name) => {
    const { fake, sup } = supervisor();
    const created = accepted(sup.create(spec(name)));
    const neighbour = accepted(sup.create(spec('plc-1')));
    expect(sup.status(name)).toMatchObject({ name, phase: 'creating' });
    expect(sup.create(spec(name))).toEqual({
      accepted: false,
      reason: `${name} already exists (creating); delete it before creating it again`,
    });
    await settleAll(fake, name);
    await settleAll(fake, 'plc-1');
    await expect(created).resolves.toEqual({ success: true });
    await expect(neighbour).resolves.toEqual({ success: true });
    expect(sup.status(name)).toMatchObject({ name, state: 'running', containerId: `id-${name}` });
    expect(sup.list().map((s) => s.name)).toEqual([name, 'plc-1'].sort());

    for (const [cmd, rests] of [
      ['STOP', 'stopped'],
      ['START', 'running'],
      ['RESTART', 'running'],
    ] as const) {
      const done = accepted(sup.command(name, cmd));
      await settleAll(fake, name);
      await expect(done, `${cmd} ${name}`).resolves.toEqual({ success: true });
      expect(sup.status(name)?.state).toBe(rests);
      expect(sup.command('plc-1', 'START')).toEqual({ accepted: false, reason: 'plc-1 is already running' });
    }

    const deleted = accepted(sup.command(name, 'DELETE'));
    await settleAll(fake, name);
    await expect(deleted).resolves.toEqual({ success: true });
    expect(sup.status(name)).toBeUndefined();
    expect(sup.list().map((s) => s.name)).toEqual(['plc-1']);
    expect(sup.command(name, 'START')).toEqual({ accepted: false, reason: `${name} does not exist; create it first` });
    // The name is free again, and the neighbour never noticed.
    const again = accepted(sup.create(spec(name)));
    await settleAll(fake, name);
    await expect(again).resolves.toEqual({ success: true });
    expect(sup.status('plc-1')).toMatchObject({ state: 'running' });
    sup.stop();
  });

  it.each(OBJECT_PROPERTY_NAMES)('adopts a runtime called %s found at boot and starts it', async (name) => {
    const { fake, sup } = atBoot();
    sup.adopt(spec(name), { state: 'stopped', containerId: `id-${name}` });
    expect(sup.status(name)).toMatchObject({ name, state: 'stopped' });
    expect(sup.list().map((s) => s.name)).toEqual([name]);
    sup.reconciled();
    const started = accepted(sup.command(name, 'START'));
    await settleAll(fake, name);
    await expect(started).resolves.toEqual({ success: true });
    sup.stop();
  });
});

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createActor, type InspectionEvent } from 'xstate';
import { InspectorHub, type InspectorBatch } from '../../src/actors/inspector/hub.js';
import { summarize } from '../../src/actors/inspector/summary.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import { linkMachine } from '../../src/machines/link.machine.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps, flush } from '../model/support/fakeOps.js';

/**
 * The inspector's hub on a real supervisor (its I/O steps held by FakeOps): inspection runs only while someone
 * watches, and what it keeps is bounded whatever the event rate.
 */
const log = pino({ level: 'silent' });
const spec = (name: string): VplcSpec => ({
  name,
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.10' }],
  serials: [],
});

/** A link whose inspection observers are counted (the real links hand out their actor system's). */
function countedLink() {
  const actor = createActor(linkMachine, { input: {} });
  let attached = 0;
  return {
    attached: () => attached,
    link: {
      actorRef: () => actor,
      inspect: (_observer: (e: InspectionEvent) => void) => {
        attached++;
        return () => {
          attached--;
        };
      },
    },
  };
}

function setup(opts: { historyLimit?: number; batchLimit?: number } = {}) {
  const fake = new FakeOps();
  const supervisor = new Supervisor({ ops: fake.ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
  supervisor.reconciled();
  const cloud = countedLink();
  const sidecar = countedLink();
  const hub = new InspectorHub({
    supervisor,
    links: { cloud: cloud.link, sidecar: sidecar.link },
    log,
    flushMs: 1,
    ...opts,
  });
  return { fake, supervisor, hub, cloud, sidecar };
}

const batches = () => {
  const got: InspectorBatch[] = [];
  return { got, viewer: (b: InspectorBatch) => got.push(b) };
};
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('InspectorHub', () => {
  it('observes nothing while nobody watches, and stops observing when the last viewer leaves', async () => {
    const { supervisor, hub, cloud } = setup();
    supervisor.create(spec('quiet'));
    await flush();
    expect(hub.snapshot().log).toEqual([]);
    expect(cloud.attached()).toBe(0);

    const a = batches();
    const b = batches();
    const offA = hub.subscribe(a.viewer);
    const offB = hub.subscribe(b.viewer);
    expect(cloud.attached()).toBe(1);
    supervisor.create(spec('watched'));
    await settle();
    expect(a.got.flatMap((x) => x.log).some((e) => e.actor === 'vplc:watched')).toBe(true);
    expect(b.got.length).toBe(a.got.length);
    offA();
    expect(cloud.attached()).toBe(1);
    offB();
    expect(cloud.attached()).toBe(0);
    const kept = hub.snapshot().log.length;
    supervisor.create(spec('after'));
    await settle();
    expect(hub.snapshot().log.length).toBe(kept);
    hub.stop();
    supervisor.stop();
  });

  it('keeps a bounded history and bounded batches whatever the event rate', async () => {
    const { supervisor, hub } = setup({ historyLimit: 25, batchLimit: 10 });
    const v = batches();
    hub.subscribe(v.viewer);
    for (let i = 0; i < 40; i++) supervisor.create(spec(`burst-${i}`));
    await settle();
    const { log: history, dropped } = hub.snapshot();
    expect(history.length).toBe(25);
    expect(Math.max(...v.got.map((b) => b.log.length))).toBeLessThanOrEqual(10);
    expect(dropped).toBeGreaterThan(0);
    // The newest entries are the ones kept, in order.
    const seqs = history.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    hub.stop();
    supervisor.stop();
  });

  it('keeps each vPLC timeline with durations, and shows steps with their outcome', async () => {
    const { fake, supervisor, hub } = setup();
    const v = batches();
    hub.subscribe(v.viewer);
    supervisor.create(spec('plc'));
    await flush();
    fake
      .pending('plc')
      .find((c) => c.op === 'prepare')!
      .resolve(undefined);
    await flush();
    fake
      .pending('plc')
      .find((c) => c.op === 'createNetworks')!
      .reject(new Error('no such parent eth0'));
    await settle();
    const timeline = hub.snapshot().timelines.plc!;
    expect(timeline.map((t) => t.state).slice(0, 2)).toEqual(['creating.image', 'creating.networks']);
    expect(timeline[0]!.ms).not.toBeNull();
    expect(timeline.at(-1)!.ms).toBeNull();
    expect(timeline[0]!.restartBudgetLeft).toBe(4);
    const steps = hub.snapshot().log.filter((e) => e.kind === 'step');
    expect(steps.map((s) => [s.kind === 'step' && s.step, s.kind === 'step' && s.outcome])).toEqual([
      ['prepare', 'done'],
      ['createNetworks', 'error'],
    ]);
    expect(steps[1]).toMatchObject({ error: 'no such parent eth0' });
    const actor = hub.snapshot().actors.find((a) => a.id === 'vplc:plc')!;
    expect(actor.active[0]).toBe(`vplc.${actor.state.split('.')[0]}`);
    hub.stop();
    supervisor.stop();
  });
});

describe('summaries', () => {
  it('hide secrets and cut long values', () => {
    const s = summarize({
      apiKey: 'abc',
      client_cert: 'PEM',
      password: null,
      name: 'x'.repeat(500),
      list: [1, 2, 3],
      nested: { name: 'plc1', token: 't' },
      fn: () => 1,
    });
    expect(s).toEqual({
      apiKey: '<hidden>',
      client_cert: '<hidden>',
      name: `${'x'.repeat(160)}…`,
      list: '[3 items]',
      nested: '{plc1}',
    });
  });
});

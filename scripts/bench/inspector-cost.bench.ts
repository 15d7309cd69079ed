import pino from 'pino';
import { createActor, type InspectionEvent } from 'xstate';
import { InspectorHub } from '../../src/actors/inspector/hub.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import { linkMachine } from '../../src/machines/link.machine.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps, flush } from '../../test/model/support/fakeOps.js';
import { collectGarbage, defineBenchmark, round } from './harness.js';

const N = 500;
const RUNS = 7;
const log = pino({ level: 'silent' });

const spec = (name: string): VplcSpec => ({
  name,
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.10' }],
  serials: [],
});

const link = () => {
  const actor = createActor(linkMachine, { input: {} });
  return { actorRef: () => actor, inspect: (o: (e: InspectionEvent) => void) => actor.system.inspect(o).unsubscribe };
};

type Setup = 'no inspector' | 'inspector, nobody connected' | 'inspector, one viewer';

/**
 * Milliseconds for N vPLCs to be created and take their first two steps (prepare, then networks) on fake ops:
 * a few thousand events, snapshots and invoked actors through the real supervisor.
 */
async function workloadMs(setup: Setup): Promise<{ ms: number; batches: number }> {
  const fake = new FakeOps();
  const supervisor = new Supervisor({ ops: fake.ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
  supervisor.reconciled();
  const hub =
    setup === 'no inspector' ? null : new InspectorHub({ supervisor, links: { cloud: link(), sidecar: link() }, log });
  let batches = 0;
  if (setup === 'inspector, one viewer') hub!.subscribe(() => batches++);
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) supervisor.create(spec(`plc-${i}`));
  for (const op of ['prepare', 'createNetworks'] as const) {
    for (let i = 0; i < N; i++)
      fake
        .pending(`plc-${i}`)
        .find((c) => c.op === op)
        ?.resolve(undefined);
    await flush();
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  hub?.stop();
  supervisor.stop();
  return { ms, batches };
}

/**
 * What the inspector costs the running system: the same workload without it, with it and nobody connected (the
 * inspection observers are not attached, so XState produces no inspection events; only the per-vPLC timeline is
 * kept), and with one viewer. Median of 7 runs, interleaved so that drift hits every setup alike.
 */
export default defineBenchmark({
  name: 'inspector-cost',
  description: `Cost of the inspector on ${N} vPLC creates taking two steps each (fake ops), median of ${RUNS} runs`,
  async run() {
    const setups: Setup[] = ['no inspector', 'inspector, nobody connected', 'inspector, one viewer'];
    for (const s of setups) await workloadMs(s);
    const samples = new Map<Setup, number[]>(setups.map((s) => [s, []]));
    for (let r = 0; r < RUNS; r++) {
      for (const s of setups) {
        collectGarbage();
        samples.get(s)!.push((await workloadMs(s)).ms);
      }
    }
    const median = (s: Setup) => {
      const list = [...samples.get(s)!].sort((a, b) => a - b);
      return list[Math.floor(list.length / 2)]!;
    };
    const base = median('no inspector');
    return Object.fromEntries(
      setups.map((s) => [s, { medianMs: round(median(s), 1), vsNoInspector: round(median(s) / base, 3) }]),
    );
  },
});

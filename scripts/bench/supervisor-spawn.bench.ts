import pino from 'pino';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps } from '../../test/model/support/fakeOps.js';
import { collectGarbage, defineBenchmark, round } from './harness.js';

const SIZES = [1_000, 5_000];
const RUNS = 5;

const spec = (name: string): VplcSpec => ({
  name,
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.10' }],
  serials: [],
});

/** Milliseconds to start `n` vPLC actors under one supervisor, by cloud creates or by boot adoptions. */
function spawnMs(n: number, how: 'create' | 'adopt'): number {
  const fake = new FakeOps();
  const sup = new Supervisor({
    ops: fake.ops,
    log: pino({ level: 'silent' }),
    restartBudget: { max: 5, windowMs: 600_000 },
  });
  if (how === 'create') sup.reconciled();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (how === 'adopt') sup.adopt(spec(`plc-${i}`), { state: 'stopped', containerId: `c-${i}` });
    else if (!sup.create(spec(`plc-${i}`)).accepted) throw new Error(`create plc-${i} was refused`);
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (sup.list().length !== n) throw new Error(`expected ${n} vPLCs, found ${sup.list().length}`);
  sup.stop();
  return ms;
}

/**
 * The supervisor keeps its vPLC actors in a Map and starts them with itself as parent instead of as XState
 * children, whose object of children XState copies on every spawn (N spawns cost N²). Both ways in: creates
 * (each starts the first step, `prepare`, on fake ops) and boot adoptions of stopped runtimes (no step).
 */
export default defineBenchmark({
  name: 'supervisor-spawn',
  description: 'Starting N vPLC actors under one supervisor (fake ops): creates and boot adoptions, median of 5 runs',
  run() {
    spawnMs(500, 'create');
    spawnMs(500, 'adopt');
    const results: Record<string, unknown> = {};
    for (const how of ['create', 'adopt'] as const) {
      for (const n of SIZES) {
        const samples: number[] = [];
        for (let r = 0; r < RUNS; r++) {
          collectGarbage();
          samples.push(spawnMs(n, how));
        }
        samples.sort((a, b) => a - b);
        results[`${how}.${n}`] = {
          medianMs: round(samples[Math.floor(RUNS / 2)]!, 1),
          perActorUs: round((samples[Math.floor(RUNS / 2)]! / n) * 1000, 1),
        };
      }
    }
    return results;
  },
});

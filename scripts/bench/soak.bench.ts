import { sleep } from '../../test/support/wait.js';
import { defineBenchmark, median, round, target } from './harness.js';
import {
  ask,
  createAndWait,
  deleteAll,
  mb,
  openRig,
  PREFIX,
  type Reply,
  removeLeftovers,
  rssBytes,
  startAgent,
} from './rig.js';

const VPLCS = 5;
const IN_FLIGHT = 20;
const SAMPLE_MS = 5000;

/** `npm run bench -- --soak 600` gives the 10-minute soak; the default keeps `npm run bench` to a few minutes. */
function soakSeconds(): number {
  const s = Number(process.env.BENCH_SOAK_S ?? '60');
  return Number.isFinite(s) && s >= 20 ? s : 60;
}

/**
 * Target 5 (no growth): the built agent with 5 running vPLCs under a steady mix of requests (status, lists,
 * consumption, host interfaces, bad payloads, unknown topics, a stop/start cycle) for the soak's length; resident
 * memory sampled every 5 s. Growth is the median of the last fifth of the samples against that of the second fifth
 * (the first fifth is warm-up: caches, JIT, the replay cache filling to its bound).
 */
export default defineBenchmark({
  name: 'soak',
  description: 'resident memory of the agent over a soak of mixed requests (BENCH_SOAK_S / --soak, default 60 s)',
  async run() {
    const seconds = soakSeconds();
    await removeLeftovers();
    const rig = await openRig({ parent: `${PREFIX}sk0`, subnetOctet: 221 });
    const agent = await startAgent(rig);
    const names = Array.from({ length: VPLCS }, (_, i) => `${PREFIX}-sk-${i}`);
    try {
      await rig.cloud.waitForConnection(30_000);
      await Promise.all(names.map((n, i) => createAndWait(rig, n, 20 + i)));
      let correlation = 100;
      const mix: Array<() => [string, Reply]> = [
        () => ['get_device_status', { device_id: names[correlation % VPLCS]! }],
        () => ['list_devices', {}],
        () => [
          'get_consumption_device',
          { device_id: names[correlation % VPLCS]!, cpuPeriod: '1h', memoryPeriod: '1h' },
        ],
        () => ['get_consumption_orchestrator', { cpuPeriod: '1h', memoryPeriod: '1h' }],
        () => ['get_host_interfaces', {}],
        () => ['get_device_status', { device_id: 42 }],
        () => ['no_such_topic', {}],
        () => ['get_device_status', { device_id: 'i12-absent' }],
      ];
      const end = Date.now() + seconds * 1000;
      let requests = 0;
      const worker = async () => {
        while (Date.now() < end) {
          const [topic, payload] = mix[correlation % mix.length]!();
          await rig.cloud.request(topic, { ...payload, correlation_id: correlation++ }, 30_000);
          requests++;
        }
      };
      // A lifecycle cycle every 10 s on one vPLC: stop, then start (completion events, journal, state files).
      const cycler = async () => {
        while (Date.now() + 10_000 < end) {
          await ask(rig.cloud, 'stop_device', { correlation_id: correlation++, device_id: names[0]! });
          await sleep(5000);
          await ask(rig.cloud, 'start_device', { correlation_id: correlation++, device_id: names[0]! });
          await sleep(5000);
        }
      };
      const samples: Array<{ atS: number; mb: number }> = [];
      const sampler = async () => {
        const t0 = Date.now();
        while (Date.now() < end) {
          samples.push({ atS: round((Date.now() - t0) / 1000, 0), mb: mb(await rssBytes(agent.pid)) });
          await sleep(SAMPLE_MS);
        }
      };
      await Promise.all([...Array.from({ length: IN_FLIGHT }, worker), cycler(), sampler()]);
      const fifth = Math.max(1, Math.floor(samples.length / 5));
      const early = median(samples.slice(fifth, 2 * fifth).map((s) => s.mb));
      const late = median(samples.slice(-fifth).map((s) => s.mb));
      const growth = round(late - early, 1);
      return {
        soakSeconds: seconds,
        requests,
        requestsPerSecond: Math.round(requests / seconds),
        rssSamplesMb: samples,
        targets: [
          target({
            id: 'target-5c-memory-soak',
            target: 'no growth of resident memory over a soak of mixed requests (10 minutes: --soak 600)',
            figure: late,
            unit: `MB RSS, median of the last fifth of a ${seconds} s soak`,
            baseline: { what: 'median of the second fifth of the same soak', value: early },
            met: late <= early * 1.05 + 1,
            details: { growthMb: growth, requests },
          }),
        ],
      };
    } finally {
      await deleteAll(rig, names).catch(() => {});
      await agent.proc.stop();
      await rig.close();
    }
  },
});

import { defineBenchmark, median, quantile, round, target } from './harness.js';
import {
  ackLoad,
  createAndWait,
  deleteAll,
  openRig,
  PREFIX,
  type Reply,
  removeLeftovers,
  startAgent,
  startBareAgent,
} from './rig.js';

const NAME = `${PREFIX}-ack-plc`;
const ROUNDS = 3;
const SEQUENTIAL = 400;
const LOAD_MS = 4000;
const IN_FLIGHT = 50;

/**
 * Targets 1 and 2: get_device_status acked by the built agent (a running vPLC on the real engine) against a bare
 * Socket.IO process acking at once, over the same mTLS link from the same test cloud. Rounds alternate agent and
 * floor so that the shared machine's noise hits both alike.
 */
export default defineBenchmark({
  name: 'ack',
  description: 'get_device_status: sequential ack latency and throughput with 50 in flight, agent vs bare Socket.IO',
  async run() {
    await removeLeftovers();
    const rig = await openRig({ parent: `${PREFIX}ack0`, subnetOctet: 215 });
    const agent = await startAgent(rig);
    try {
      await rig.cloud.waitForConnection(30_000);
      await createAndWait(rig, NAME, 20);
      const request: Reply = { device_id: NAME };
      const agentLat: number[] = [];
      const bareLat: number[] = [];
      const agentRate: number[] = [];
      const bareRate: number[] = [];
      const sequential = async (into: number[]) => {
        for (let i = 0; i < SEQUENTIAL; i++) {
          const t0 = performance.now();
          await rig.cloud.request('get_device_status', { ...request, correlation_id: i + 10 }, 30_000);
          if (i >= 50) into.push(performance.now() - t0);
        }
      };
      for (let round_ = 0; round_ < ROUNDS; round_++) {
        // The newest connection gets the requests: the bare process while it is up, then the agent again.
        const bare = startBareAgent(rig);
        await rig.cloud.waitForConnection(10_000);
        await waitNewest(rig.cloud, 2);
        await sequential(bareLat);
        bareRate.push(
          (await ackLoad(rig.cloud, 'get_device_status', request, { inFlight: IN_FLIGHT, forMs: LOAD_MS })).perSecond,
        );
        await bare.stop();
        await waitNewest(rig.cloud, 1);
        await sequential(agentLat);
        agentRate.push(
          (await ackLoad(rig.cloud, 'get_device_status', request, { inFlight: IN_FLIGHT, forMs: LOAD_MS })).perSecond,
        );
      }
      const agentMedian = round(median(agentLat), 3);
      const bareMedian = round(median(bareLat), 3);
      const agentPerSecond = Math.round(median(agentRate));
      const barePerSecond = Math.round(median(bareRate));
      return {
        latency: {
          agentMedianMs: agentMedian,
          agentP95Ms: round(quantile(agentLat, 0.95), 3),
          bareMedianMs: bareMedian,
          bareP95Ms: round(quantile(bareLat, 0.95), 3),
          samples: agentLat.length,
        },
        throughput: { agentPerSecond: agentRate, barePerSecond: bareRate, inFlight: IN_FLIGHT, windowMs: LOAD_MS },
        targets: [
          target({
            id: 'target-1-ack-latency',
            target: 'get_device_status ack: median <= 3x a bare Socket.IO ack over the same mTLS link',
            figure: agentMedian,
            unit: 'ms (median)',
            baseline: { what: 'bare Socket.IO ack, same link', value: bareMedian },
            met: agentMedian <= 3 * bareMedian,
          }),
          target({
            id: 'target-2-ack-throughput',
            target: '>= 10,000 acked requests/s with 50 in flight',
            figure: agentPerSecond,
            unit: 'acks/s (median of rounds)',
            baseline: { what: 'bare Socket.IO process, same link, 50 in flight', value: barePerSecond },
            met: agentPerSecond >= 10_000,
          }),
        ],
      };
    } finally {
      await deleteAll(rig, [NAME]).catch(() => {});
      await agent.proc.stop();
      await rig.close();
    }
  },
});

async function waitNewest(cloud: { connectionCount(): number }, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (cloud.connectionCount() !== count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} live connections, found ${cloud.connectionCount()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

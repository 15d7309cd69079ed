import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../test/support/wait.js';
import { defineBenchmark, median, round, target } from './harness.js';
import {
  ask,
  bareNodeRss,
  createAndWait,
  heartbeatPeriods,
  mb,
  openRig,
  PREFIX,
  type Rig,
  type RunningAgent,
  removeLeftovers,
  rssSamples,
  startAgent,
  startBareAgent,
} from './rig.js';

const LEVELS = [0, 20, 100];
const ADOPT = 50;
/** Periods measured per level: 6 periods is 30 s of heartbeats. */
const PERIODS = 6;
const BATCH = 10;
const HEARTBEAT_S = 5;

const nameOf = (i: number) => `${PREFIX}-fl-${i}`;

async function growTo(rig: Rig, have: number, want: number): Promise<number> {
  for (let from = have; from < want; from += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, want - from) }, (_, k) => from + k);
    await Promise.all(batch.map((i) => createAndWait(rig, nameOf(i), 10 + i)));
  }
  return want;
}

async function periodsNow(rig: Rig): Promise<number[]> {
  const from = rig.cloud.heartbeats.length;
  await rig.cloud.waitForHeartbeats(from + PERIODS + 1, (PERIODS + 3) * HEARTBEAT_S * 1000);
  return heartbeatPeriods(rig.cloud, from).slice(0, PERIODS);
}

/**
 * Stops the agent (its runtimes keep running) and starts it again on the same data folder: how long until the cloud
 * sees it connected, until it answers list_devices with all of them running (it answers only once reconciled), and
 * until its first heartbeat (which the protocol sends 5 s after the connection opened).
 */
async function restartWithAdoptions(
  rig: Rig,
  previous: RunningAgent,
  dataDir: string,
): Promise<{ agent: RunningAgent; timings: Record<string, number> }> {
  await previous.proc.stop();
  await rig.cloud.waitForDisconnect(10_000);
  const connections = rig.cloud.connectedCns.length;
  const beats = rig.cloud.heartbeats.length;
  const agent = await startAgent(rig, { dataDir });
  await waitFor(() => rig.cloud.connectedCns.length > connections, {
    timeoutMs: 30_000,
    intervalMs: 2,
    message: 'the restarted agent connected',
  });
  const connectedMs = Date.now() - agent.spawnedAt;
  await waitFor(
    async () => {
      const reply = await ask(rig.cloud, 'list_devices', { correlation_id: 0 }, 30_000);
      const devices = (reply.devices ?? []) as Array<{ device_id: string; state: string }>;
      return devices.filter((d) => d.device_id.startsWith(`${PREFIX}-fl-`) && d.state === 'running').length >= ADOPT;
    },
    { timeoutMs: 60_000, intervalMs: 5, message: `all ${ADOPT} adopted vPLCs running` },
  );
  const readyMs = Date.now() - agent.spawnedAt;
  await rig.cloud.waitForHeartbeats(beats + 1, 30_000);
  const firstHeartbeatMs = rig.cloud.heartbeats[beats]!.at - agent.spawnedAt;
  return { agent, timings: { connectedMs, readyMs, firstHeartbeatMs, adopted: ADOPT } };
}

/**
 * Targets 3, 5 (idle and 100 vPLCs) and 7, on one fleet of stand-in runtimes on the real engine: heartbeat periods
 * as the cloud receives them with 0, 20 and 100 running vPLCs; resident memory idle and with 100 vPLC actors; and a
 * restart of the agent with 50 runtimes to adopt, from process start until it answers with all 50 and until its
 * first heartbeat. Baselines: a bare Node process and the bare Socket.IO process (memory, start-up).
 */
export default defineBenchmark({
  name: 'fleet',
  description: 'heartbeat period at 0/20/100 vPLCs, resident memory idle and at 100, start-up adopting 50',
  async run() {
    await removeLeftovers();
    const rig = await openRig({ parent: `${PREFIX}fl0`, subnetOctet: 220 });
    const dataDir = await mkdtemp(join(tmpdir(), `${PREFIX}-fleet-`));
    let agent: RunningAgent | undefined;
    try {
      const bareNode = await bareNodeRss();
      const bare = startBareAgent(rig);
      // The bare process says hello with a heartbeat as soon as it is connected.
      await waitFor(() => rig.cloud.heartbeats.length > 0, { timeoutMs: 10_000, message: 'the bare heartbeat' });
      const bareStartMs = rig.cloud.heartbeats[0]!.at - bare.spawnedAt;
      const bareRss = median(await rssSamples(bare.pid, 3000, 250));
      await bare.stop();
      await rig.cloud.waitForDisconnect(10_000);

      agent = await startAgent(rig, { dataDir });
      await rig.cloud.waitForConnection(30_000);
      await rig.cloud.waitForHeartbeats(rig.cloud.heartbeats.length + 2, 20_000);
      const idleRss = median(await rssSamples(agent.pid, 5000));

      const periods: Record<number, number[]> = {};
      const rssAt: Record<number, number> = { 0: idleRss };
      let have = 0;
      let start: Record<string, number> = {};
      for (const level of LEVELS) {
        if (level > ADOPT && have < ADOPT) {
          have = await growTo(rig, have, ADOPT);
          const restarted = await restartWithAdoptions(rig, agent, dataDir);
          agent = restarted.agent;
          start = restarted.timings;
        }
        have = await growTo(rig, have, level);
        periods[level] = await periodsNow(rig);
        rssAt[level] = median(await rssSamples(agent.pid, 5000));
      }
      const worst = Math.max(...Object.values(periods).flatMap((ps) => ps.map((p) => Math.abs(p - HEARTBEAT_S))));
      return {
        heartbeatPeriodsS: periods,
        rssMb: Object.fromEntries(Object.entries(rssAt).map(([k, v]) => [k, mb(v)])),
        bareNodeRssMb: mb(bareNode),
        bareSocketIoRssMb: mb(bareRss),
        startUp: start,
        targets: [
          target({
            id: 'target-3-heartbeat',
            target: 'heartbeat period 5.0 s +/- 0.1 s with 0, 20 and 100 running vPLCs',
            figure: round(worst, 3),
            unit: 's, largest deviation of any period from 5 s',
            baseline: { what: 'the 5 s period', value: HEARTBEAT_S },
            ratio: round(Math.max(...Object.values(periods).flat()) / HEARTBEAT_S, 3),
            met: worst <= 0.1,
            details: Object.fromEntries(LEVELS.map((l) => [`median${l}`, round(median(periods[l] ?? []), 3)])),
          }),
          target({
            id: 'target-5a-memory-idle',
            target: 'resident memory <= 52 MB idle',
            figure: mb(idleRss),
            unit: 'MB RSS, connected, no vPLC (median of samples)',
            baseline: { what: 'bare Node process', value: mb(bareNode) },
            met: idleRss <= 52 * 1048576,
            details: { bareSocketIoMb: mb(bareRss) },
          }),
          target({
            id: 'target-5b-memory-100',
            target: 'resident memory <= 80 MB with 100 vPLC actors',
            figure: mb(rssAt[100] ?? 0),
            unit: 'MB RSS with 100 running vPLCs (median of samples)',
            baseline: { what: 'bare Node process', value: mb(bareNode) },
            met: (rssAt[100] ?? Number.POSITIVE_INFINITY) <= 80 * 1048576,
          }),
          target({
            id: 'target-7-start-adopting-50',
            target: 'agent start with 50 existing vPLCs to adopt: report it, keep it under 3 s',
            figure: start.readyMs ?? Number.NaN,
            unit: 'ms process start -> list_devices answered with all 50 running',
            baseline: { what: 'bare Socket.IO process start -> connected', value: round(bareStartMs, 0) },
            met: (start.readyMs ?? Number.POSITIVE_INFINITY) <= 3000,
            details: start,
          }),
        ],
      };
    } finally {
      await agent?.proc.stop();
      await removeLeftovers();
      await rig.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  },
});

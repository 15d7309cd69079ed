import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import { ContainerWatch } from '../../src/actors/vplc/containerWatch.js';
import { LeaseBook } from '../../src/actors/network/leases.js';
import { SelfDestruct } from '../../src/actors/orchestrator/selfDestruct.js';
import { SerialPassthrough } from '../../src/actors/serial/passthrough.js';
import { SidecarLink } from '../../src/actors/sidecar/link.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import { createTopicHandlers } from '../../src/actors/cloud/topics/index.js';
import { createVplcOps } from '../../src/actors/vplc/ops.js';
import { TopicRouter } from '../../src/io/cloud/router.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { HostMetrics } from '../../src/io/metrics/hostMetrics.js';
import { UsageBuffer } from '../../src/io/metrics/usageBuffer.js';
import { NetmonConnector } from '../../src/io/netmon/client.js';
import { RuntimeHttpProxy } from '../../src/io/runtime-http/proxy.js';
import { remoteDebugFor } from '../../test/support/remoteDebug.js';
import { ensureStandinImage } from '../../test/support/runtimeImage.js';
import { defineBenchmark, round } from './harness.js';

const sh = promisify(execFile);
const NAME = 'bench-status-plc';
const PARENT = 'benchp0';
const ITERATIONS = 300;

async function timeAsync(fn: () => Promise<unknown>, iterations: number) {
  for (let i = 0; i < 20; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { iterations, medianMs: round(at(0.5), 4), p95Ms: round(at(0.95), 4) };
}

/**
 * get_device_status answered from the vPLC actor and the container cache (this agent) versus a Docker
 * inspect per request (what the old agent does: its 2.8 ms median reply is mostly that round trip).
 * Both measured in one run on the same engine and container; the ratio is what to compare.
 */
export default defineBenchmark({
  name: 'device-status',
  description:
    'get_device_status through the router: from actor state and the container cache vs. one Docker inspect per request',
  async run() {
    const log = pino({ level: 'silent' });
    const socketPath = '/var/run/docker.sock';
    const image = await ensureStandinImage(socketPath);
    await sh('ip', ['link', 'del', PARENT]).catch(() => {});
    await sh('ip', ['link', 'add', PARENT, 'type', 'veth', 'peer', 'name', 'benchq0']);
    await sh('ip', ['link', 'set', PARENT, 'up']);
    const engine = new DockerEngine({ address: { socketPath }, log, selfContainer: null });
    const watch = new ContainerWatch({ engine, log });
    const ops = createVplcOps({
      engine,
      image,
      ulimits: [],
      interfaces: { get: () => undefined },
      dhcp: { start: async () => {}, stop: async () => {} },
      log,
    });
    const supervisor = new Supervisor({ ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
    supervisor.reconciled();
    watch.onFact((name, fact) => supervisor.notify(name, fact));
    await watch.start();
    const sidecar = new SidecarLink({
      connector: new NetmonConnector({ socketPath: '/nonexistent/netmon.sock', log }),
      log,
    });
    const handlers = createTopicHandlers({
      supervisor,
      watch,
      sidecar,
      proxy: new RuntimeHttpProxy({ log }),
      hostMetrics: new HostMetrics(),
      orchestratorUsage: new UsageBuffer(),
      leases: new LeaseBook(),
      selfDestruct: new SelfDestruct({ supervisor, engine, clearRecords: async () => {}, log }),
      serial: new SerialPassthrough({ engine, devices: () => [], log }),
      runCommandPorts: [8443],
      debug: remoteDebugFor({
        supervisor,
        proxy: new RuntimeHttpProxy({ log }),
        ports: [8443],
        internalIp: (name) => watch.observed(name)?.internalIp ?? null,
        router: () => router,
        log,
      }),
      log,
    });
    const router = new TopicRouter({ handlers, log });
    try {
      const admission = supervisor.create({
        name: NAME,
        vnics: [
          {
            name: 'eth0',
            parent_interface: PARENT,
            network_mode: 'static',
            ip: '10.239.0.5',
            subnet: '10.239.0.0/24',
            gateway: '10.239.0.1',
          },
        ],
        serials: [],
      });
      if (!admission.accepted) throw new Error(admission.reason);
      const outcome = await admission.done;
      if (!outcome.success) throw new Error(outcome.error);
      await watch.refresh(NAME);

      const ask = () =>
        new Promise(
          (resolve) =>
            void router.dispatch('get_device_status', [{ correlation_id: 1, device_id: NAME }, resolve], () => {}),
        );
      const fromCache = await timeAsync(ask, ITERATIONS);
      const perRequestInspect = await timeAsync(async () => {
        await engine.inspectContainer(NAME);
        return ask();
      }, ITERATIONS);
      return {
        container: NAME,
        fromActorAndCache: fromCache,
        withDockerInspectPerRequest: perRequestInspect,
        speedupMedian: round(perRequestInspect.medianMs / fromCache.medianMs, 1),
      };
    } finally {
      const deleting = supervisor.command(NAME, 'DELETE');
      if (deleting.accepted) await deleting.done;
      supervisor.stop();
      await watch.stop();
      await sh('ip', ['link', 'del', PARENT]).catch(() => {});
    }
  },
});

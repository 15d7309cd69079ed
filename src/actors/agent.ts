import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { CloudConnector } from '../io/cloud/connection.js';
import { heartbeatPayload } from '../io/cloud/heartbeat.js';
import { IdempotencyCache } from '../io/cloud/idempotency.js';
import { loadClientIdentity } from '../io/cloud/identity.js';
import { TopicRouter } from '../io/cloud/router.js';
import { DockerEngine } from '../io/docker/engine.js';
import { HostMetrics } from '../io/metrics/hostMetrics.js';
import { OrchestratorUsageSampler } from '../io/metrics/orchestratorUsage.js';
import { UsageBuffer } from '../io/metrics/usageBuffer.js';
import { NetmonConnector } from '../io/netmon/client.js';
import { RuntimeHttpProxy } from '../io/runtime-http/proxy.js';
import { StateStore } from '../io/store/stateStore.js';
import { CloudLink } from './cloud/link.js';
import { ContainerWatch } from './vplc/containerWatch.js';
import { DhcpCoordinator } from './network/dhcp.js';
import { LeaseBook } from './network/leases.js';
import { KeptMacs } from './network/move.js';
import { AdoptedRuntimes, FactGate, networkInUseBy, reconcile } from './boot/reconcile.js';
import { parseFaultPoint, Records } from './state/records.js';
import { SelfDestruct } from './orchestrator/selfDestruct.js';
import { SerialPassthrough } from './serial/passthrough.js';
import { SidecarLink } from './sidecar/link.js';
import { Supervisor, type VplcFact } from './vplc/supervisor.js';
import { createTopicHandlers } from './cloud/topics/index.js';
import { createVplcOps } from './vplc/ops.js';

export interface Agent {
  readonly agentId: string;
  readonly cloud: CloudLink;
  readonly supervisor: Supervisor;
  stop(): Promise<void>;
}

export interface AgentOptions {
  /** Jitter source for every backoff (tests make it deterministic). */
  random?: () => number;
  heartbeatIntervalMs?: number;
}

/**
 * Wires the running system: adapters (io) → provided actors → supervisor, then opens the cloud link
 * last, so the agent answers the cloud only once it knows its vPLCs.
 */
export async function startAgent(config: Config, log: Logger, opts: AgentOptions = {}): Promise<Agent> {
  const identity = await loadClientIdentity(config.mtlsDir, config.caFile);
  if (!identity.agentIdFromCertificate) {
    log.error(
      { mtlsDir: config.mtlsDir },
      'client certificate has no CN in its subject; heartbeats use agent id UNKNOWN',
    );
  }

  // The files are read before anything else runs: they say which runtimes exist and what was in flight.
  const { store, loaded } = await StateStore.open(config.dataDir, log.child({ component: 'store' }));

  const hostMetrics = new HostMetrics();
  await hostMetrics.start();
  const orchestratorUsage = new UsageBuffer();
  const usageSampler = new OrchestratorUsageSampler({
    metrics: hostMetrics,
    buffer: orchestratorUsage,
    log: log.child({ component: 'usage' }),
  });
  usageSampler.start();

  const address =
    'socketPath' in config.dockerHost
      ? { socketPath: config.dockerHost.socketPath }
      : { host: config.dockerHost.host, port: config.dockerHost.port };
  const engine = new DockerEngine({ address, log: log.child({ component: 'docker' }), hostname: config.hostname });
  // MACs that moved vNICs got back through the sidecar (issue 6); Docker's inspect still shows its own, so
  // get_device_status (answered from the watch's cache) shows the MAC the vNIC really has.
  const keptMacs = new KeptMacs();
  const watch = new ContainerWatch({
    engine,
    log: log.child({ component: 'watch' }),
    presentNetworks: (name, networks) => keptMacs.apply(name, networks),
  });

  const sidecar = new SidecarLink({
    connector: new NetmonConnector({ socketPath: config.netmonSocket, log: log.child({ component: 'netmon' }) }),
    log: log.child({ component: 'netmon' }),
    random: opts.random,
  });
  const leases = new LeaseBook();
  const inspectWithKeptMacs = async (name: string) => {
    const facts = await engine.inspectContainer(name);
    return facts && { ...facts, networks: keptMacs.apply(name, facts.networks) };
  };
  const records = new Records({
    store,
    loaded,
    log: log.child({ component: 'records' }),
    leases,
    serialState: (vplc, port) => serial.state(vplc, port),
    inspect: inspectWithKeptMacs,
    // TEST HOOK for the crash-recovery tests (see FaultPoint); unset in production.
    faultKillAt: parseFaultPoint(config.faultKillAt ?? undefined),
  });
  const adopted = new AdoptedRuntimes();
  let supervisor: Supervisor | undefined;
  const dhcp = new DhcpCoordinator({
    sidecar,
    leases,
    log: log.child({ component: 'dhcp' }),
    random: opts.random,
    containers: {
      inspect: async (name) => {
        // The lease is asked for with the MAC the interface has (kept through a move), which is how the sidecar finds it.
        const facts = await inspectWithKeptMacs(name);
        if (!facts) return undefined;
        const networks = Object.fromEntries(Object.entries(facts.networks).map(([n, e]) => [n, { mac: e.mac }]));
        return { running: facts.running, pid: facts.pid, networks };
      },
    },
    onLease: (name, vnic, lease) => {
      records.onLease(name, vnic);
      supervisor?.notify(name, { type: 'dhcp.lease', vnicName: vnic, ip: lease.ip, gateway: lease.gateway || null });
    },
  });

  const ops = createVplcOps({
    engine,
    image: config.runtimeImage,
    ulimits: config.runtimeUlimits,
    interfaces: sidecar,
    dhcp: {
      start: (spec) => dhcp.start(spec),
      stop: (spec) => dhcp.stop(spec),
      forgetLease: (name, vnic) => leases.forget(name, vnic),
    },
    log: log.child({ component: 'vplc-ops' }),
    isAdopted: (name) => adopted.has(name),
    keptMacs,
    setMac: async (pid, currentMac, mac) => {
      const reply = await sidecar.request(
        { command: 'set_mac', container_pid: pid, current_mac: currentMac, mac_address: mac },
        10_000,
      );
      if (!reply.success) throw new Error(reply.error);
    },
    // get_device_status answers from the watch's cache: show the new network at once, not at the next full refresh.
    onNetworksMoved: (name) => {
      watch.refresh(name).catch((err: unknown) => log.warn({ vplc: name, err }, 'could not re-read a moved runtime'));
      // runtime_vnics.json names each vNIC's network and MAC: keep it true after a move (D15).
      void records.onNetworksMoved(name);
    },
  });
  supervisor = new Supervisor({
    ops,
    log: log.child({ component: 'supervisor' }),
    restartBudget: config.restartBudget,
    random: opts.random,
  });
  const sup = supervisor;

  records.follow(sup);
  sup.onChange((status) => {
    if (status.phase !== 'deleted' || !adopted.has(status.name)) return;
    void adopted.release(status.name, {
      engine,
      watch,
      stillNeeded: (network) => networkInUseBy(sup.list(), network),
      log: log.child({ component: 'reconcile' }),
    });
  });
  // Serial passthrough (spec §11.6.5): nodes made on plug and on every container start, removed on unplug.
  const serial = new SerialPassthrough({
    engine,
    devices: () => sidecar.serialDevices(),
    vplcs: () => sup.list(),
    log: log.child({ component: 'serial' }),
    onChange: () => records.onSerialDevices(),
  });
  sup.onChange((status) => serial.observe(status));
  sidecar.on('serialChanged', () => void serial.sync());
  // Facts wait while boot reconciliation builds the actors they are about.
  const facts = new FactGate<VplcFact>((name, fact) => sup.notify(name, fact));
  watch.onFact((name, fact) => facts.push(name, fact));
  sidecar.on('networkChanged', (iface) => {
    // Only an interface with an IPv4 subnet has a network to move to; a link that went down keeps its vPLCs
    // where they are, and they move when it comes back (spec §11.6.3, D15).
    if (iface.status !== 'up' || iface.ipv4_addresses.length === 0) return;
    for (const vplc of sup.list()) {
      if (vplc.spec.vnics.some((v) => v.parent_interface === iface.interface)) {
        sup.notify(vplc.name, { type: 'network.changed', parentInterface: iface.interface });
      }
    }
  });

  const proxy = new RuntimeHttpProxy({
    allowedPorts: config.runCommand.ports,
    timeoutMs: config.runCommand.timeoutMs,
    maxBytes: config.runCommand.maxBytes,
    log: log.child({ component: 'run-command' }),
  });
  const selfDestruct = new SelfDestruct({
    supervisor: sup,
    engine,
    clearRecords: () => records.clear(),
    log: log.child({ component: 'self-destruct' }),
  });

  const handlers = createTopicHandlers({
    supervisor: sup,
    watch,
    sidecar,
    proxy,
    hostMetrics,
    orchestratorUsage,
    leases,
    selfDestruct,
    serial,
    runCommandPorts: config.runCommand.ports,
    log,
  });
  const router = new TopicRouter({
    handlers,
    log: log.child({ component: 'router' }),
    idempotency: new IdempotencyCache(),
    // The proxy has its own deadline; give it room to answer with its own, more precise error.
    topicTimeoutsMs: { run_command: config.runCommand.timeoutMs + 5_000 },
  });

  await watch.start();
  sidecar.start();
  // Before the cloud hears from us: one actor per runtime, interrupted operations finished (D30, D35).
  await reconcile({
    engine,
    supervisor: sup,
    ops,
    watch,
    records,
    loaded,
    adopted,
    log: log.child({ component: 'reconcile' }),
  });
  facts.open();

  const cloud = new CloudLink({
    connector: new CloudConnector({ url: config.cloudUrl, identity, log: log.child({ component: 'cloud' }) }),
    dispatch: (topic, args, emit) => void router.dispatch(topic, args, emit),
    heartbeat: async () => heartbeatPayload(identity.agentId, await hostMetrics.sample()),
    log: log.child({ component: 'cloud' }),
    random: opts.random,
    heartbeatIntervalMs: opts.heartbeatIntervalMs,
  });
  cloud.start();
  log.info({ agentId: identity.agentId, cloudUrl: config.cloudUrl }, 'agent started');

  return {
    agentId: identity.agentId,
    cloud,
    supervisor: sup,
    async stop() {
      cloud.stop();
      sidecar.stop();
      usageSampler.stop();
      proxy.close();
      sup.stop();
      await watch.stop();
      await records.flush();
      store.close();
    },
  };
}

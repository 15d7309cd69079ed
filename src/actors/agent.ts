import type { Logger } from 'pino';
import { agentVersion, type Config } from '../config.js';
import { showDockerHost } from '../config/parsers.js';
import { CloudConnector } from '../io/cloud/connection.js';
import { heartbeatPayload } from '../io/cloud/heartbeat.js';
import { IdempotencyCache } from '../io/cloud/idempotency.js';
import { loadClientIdentity } from '../io/cloud/identity.js';
import { TopicRouter } from '../io/cloud/router.js';
import { DockerEngine } from '../io/docker/engine.js';
import { isManagedRuntime } from '../io/docker/labels.js';
import { LivenessBeat } from '../io/host/liveness.js';
import { HostMetrics } from '../io/metrics/hostMetrics.js';
import { OrchestratorUsageSampler } from '../io/metrics/orchestratorUsage.js';
import { UsageBuffer } from '../io/metrics/usageBuffer.js';
import { NetmonConnector } from '../io/netmon/client.js';
import { RuntimeHttpProxy } from '../io/runtime-http/proxy.js';
import { StateStore } from '../io/store/stateStore.js';
import type { VplcFact } from '../model/facts.js';
import { displayUrl } from '../model/urls.js';
import { AdoptedRuntimes, networkInUseBy } from './boot/adoptedRuntimes.js';
import { FactGate } from './boot/factGate.js';
import { OldAgentFootprint } from './boot/oldAgentFootprint.js';
import { reconcile } from './boot/reconcile.js';
import { gatedDispatch, ReconcileGate } from './boot/reconcileGate.js';
import { CloudLink, type Dispatch } from './cloud/link.js';
import { createTopicHandlers } from './cloud/topics/index.js';
import { channelRunCommand } from './debug/channelRouter.js';
import { RemoteDebug } from './debug/index.js';
import type { PreparedLocalMode } from './local/localMode.js';
import { type AgentModule, startModules } from './modules.js';
import { DhcpCoordinator } from './network/dhcp.js';
import { LeaseBook } from './network/leases.js';
import { DedicatedNics } from './network/dedicated.js';
import { DedicatedNicsStore, dedicatedNicsPath } from '../io/store/dedicatedNics.js';
import { KeptMacs } from './network/macs.js';
import { hostSubnets } from './network/hostSubnets.js';
import { networkChangeFacts } from './network/networkChanges.js';
import { ParentInterfaces } from './network/parents.js';
import { SelfDestruct, SHARED_VOLUME } from './orchestrator/selfDestruct.js';
import { Upgrade } from './orchestrator/upgrade.js';
import { orchestratorVersions } from './orchestrator/versions.js';
import { AgentContainers } from '../io/docker/agentContainers.js';
import { SerialPassthrough } from './serial/passthrough.js';
import { SidecarLink } from './sidecar/link.js';
import { journaledOps } from './state/journaledOps.js';
import { parseFaultPoint, Records } from './state/records.js';
import { ContainerWatch } from './vplc/containerWatch.js';
import { createVplcOps } from './vplc/ops.js';
import { RuntimeReadiness } from './vplc/readiness.js';
import { Supervisor } from './vplc/supervisor.js';
import type { MetricsFeed } from './metrics/feed.js';
import { serveMetrics } from '../io/metrics/metricsServer.js';
import type { AgentMetrics } from '../io/metrics/prometheus.js';
import type { Listening } from '../io/http/listen.js';
import { errorText } from '../model/errors.js';
import { EngineError } from '../io/docker/errors.js';

export interface Agent {
  readonly agentId: string;
  readonly cloud: CloudLink;
  readonly supervisor: Supervisor;
  /** Set in local mode. */
  readonly local: LocalModeView | null;
  /** Where `/metrics` is served (`--metrics`), with the port it got. */
  readonly metricsUrl: string | null;
  /** The inspector's page (`--inspect`), with the port it got. */
  readonly inspectorUrl: string | null;
  stop(): Promise<void>;
}

/** What the start-up banner of local mode tells a person. */
export interface LocalModeView {
  endpointUrl: string;
  endpointFile: string;
  caFile: string;
  /** Waits up to `waitMs` for the first word from Docker: reconciled, or why the engine did not answer. */
  docker(waitMs: number): Promise<{ address: string; reachable: boolean; problem: string | null }>;
}

export interface AgentOptions {
  /** Jitter source for every backoff (tests make it deterministic). */
  random?: () => number;
  heartbeatIntervalMs?: number;
  /** A fault the agent cannot recover from in place (a root actor failed): the caller ends the process. */
  onFatal?: (what: string, error: unknown) => void;
}

/**
 * The composition: every capability is built first (constructors do no I/O), then started as a list of modules in
 * order and stopped in reverse. The cloud link is the last module, so the agent answers the cloud only once boot
 * reconciliation knows its vPLCs.
 *
 * In local mode the cloud is the embedded endpoint (see local/localMode.ts), and the link opens while
 * reconciliation may still wait for Docker: a machine without an engine must still get answers. The topics that
 * need Docker are held back by the reconcile gate until reconciliation is done, so none is served from an
 * unreconciled view.
 */
export async function startAgent(config: Config, log: Logger, opts: AgentOptions = {}): Promise<Agent> {
  const child = (component: string) => log.child({ component });
  // Loaded only in local mode: its private CA (@peculiar/x509) and embedded Socket.IO server cost about 15 MB of
  // resident memory that an agent on the cloud never uses (docs/performance.md#memory).
  const local: PreparedLocalMode | null = config.local.enabled
    ? await (await import('./local/localMode.js')).prepareLocalMode(config, child('local'))
    : null;
  const cloudTarget = local?.cloud ?? { url: config.cloudUrl, mtlsDir: config.mtlsDir, caFile: config.caFile };
  const identity = await loadClientIdentity(cloudTarget.mtlsDir, cloudTarget.caFile);
  if (!identity.agentIdFromCertificate) {
    log.error(
      { mtlsDir: config.mtlsDir },
      'client certificate has no CN in its subject; heartbeats use agent id UNKNOWN',
    );
  }

  // The files are read before anything else runs: they say which runtimes exist and what was in flight.
  const { store, loaded } = await StateStore.open(config.dataDir, child('store'));

  const hostMetrics = new HostMetrics();
  const orchestratorUsage = new UsageBuffer();
  const usageSampler = new OrchestratorUsageSampler({
    metrics: hostMetrics,
    buffer: orchestratorUsage,
    log: child('usage'),
  });

  // Built first: the engine, the router and the cloud link report to it; it follows the supervisor and the links.
  // prom-client and the inspector are loaded only when asked for: an agent without them stays small.
  const metricsFeed: MetricsFeed | null =
    config.metrics &&
    new (await import('./metrics/feed.js')).MetricsFeed({
      supervisor: (): Supervisor => supervisor,
      links: () => ({ cloud: cloud as CloudLink, sidecar: sidecar as SidecarLink }),
      log: child('metrics'),
    });
  const metrics: AgentMetrics | null = metricsFeed?.metrics ?? null;

  const address =
    'socketPath' in config.dockerHost
      ? { socketPath: config.dockerHost.socketPath }
      : { host: config.dockerHost.host, port: config.dockerHost.port };
  // Internal networks avoid the host's routes and addresses, which the sidecar (built below) reports.
  const engine = new DockerEngine({
    address,
    hostname: config.hostname,
    internalSubnetPool: config.internalSubnetPool,
    hostSubnets: () => avoidSubnets(),
    log: child('docker'),
    ...(metrics && { observe: (call, seconds, error) => metrics.dockerCall(call, seconds, error) }),
  });
  // A moved vNIC's MAC, set back by the sidecar: Docker's inspect still shows its own, so everything that reports
  // or uses a MAC reads it through KeptMacs.
  const keptMacs = new KeptMacs();
  const adopted = new AdoptedRuntimes();
  const watch = new ContainerWatch({
    engine,
    log: child('watch'),
    presentNetworks: (name, networks) => keptMacs.apply(name, networks),
    owns: (facts) => isManagedRuntime(facts.labels) || adopted.ownsContainer(facts.name, facts.id),
  });
  const inspectWithKeptMacs = async (name: string) => {
    const facts = await engine.inspectContainer(name);
    return facts && { ...facts, networks: keptMacs.apply(name, facts.networks) };
  };

  const sidecar = new SidecarLink({
    connector: new NetmonConnector({ socketPath: config.netmonSocket, log: child('netmon') }),
    log: child('netmon'),
    random: opts.random,
    onFatal: opts.onFatal,
  });
  const avoidSubnets = hostSubnets({ sidecar, log: child('docker') });
  const leases = new LeaseBook();
  const dedicatedStore = new DedicatedNicsStore(dedicatedNicsPath(config.dataDir), child('dedicated-nics'));
  await dedicatedStore.load();
  const dedicated = new DedicatedNics({
    store: dedicatedStore,
    sidecar,
    containers: { inspect: (name) => engine.inspectContainer(name) },
    allowList: config.parentInterfaces,
    log: child('dedicated-nics'),
  });
  const dhcp = new DhcpCoordinator({
    sidecar,
    leases,
    log: child('dhcp'),
    random: opts.random,
    containers: {
      inspect: async (name) => {
        // The lease is asked for with the MAC the interface has (kept through a move): that is how the sidecar finds it.
        const facts = await inspectWithKeptMacs(name);
        if (!facts) return undefined;
        const networks = Object.fromEntries(Object.entries(facts.networks).map(([n, e]) => [n, { mac: e.mac }]));
        return { running: facts.running, pid: facts.pid, networks };
      },
    },
  });
  const serial = new SerialPassthrough({ engine, devices: () => sidecar.serialDevices(), log: child('serial') });
  const records = new Records({
    store,
    loaded,
    log: child('records'),
    leases,
    serialState: (vplc, port) => serial.state(vplc, port),
    inspect: inspectWithKeptMacs,
    faultKillAt: parseFaultPoint(config.faultKillAt ?? undefined),
  });
  // The old agent labelled nothing: what its files prove it made is all of its that the agent may touch.
  const footprint = OldAgentFootprint.fromFiles(loaded);

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
    log: child('vplc-ops'),
    onInternalAddress: (name, ip) => records.onInternalAddress(name, ip),
    parentInterfaces: new ParentInterfaces({ allowList: config.parentInterfaces, sidecar }),
    isAdopted: (name) => adopted.has(name),
    ownsAdoptedContainer: (name, id) => adopted.ownsContainer(name, id),
    isOldAgentNetwork: (net) => footprint.ownsNetwork(net),
    keptMacs,
    dedicated,
    setMac: async (pid, currentMac, mac) => {
      const reply = await sidecar.request(
        { command: 'set_mac', container_pid: pid, current_mac: currentMac, mac_address: mac },
        10_000,
      );
      if (!reply.success) throw new Error(reply.error);
    },
    onNetworksMoved: (name) => {
      // get_device_status answers from the watch's cache: show the new network at once, not at the next refresh.
      watch.refresh(name).catch((err: unknown) => log.warn({ vplc: name, err }, 'could not re-read a moved runtime'));
      // runtime_vnics.json names each vNIC's network and MAC: keep it true after a move.
      void records.onNetworksMoved(name);
    },
  });
  const supervisor = new Supervisor({
    ops: journaledOps(ops, records, child('journal')),
    log: child('supervisor'),
    restartBudget: config.restartBudget,
    maxVplcs: config.maxVplcs,
    random: opts.random,
    onFatal: opts.onFatal,
  });

  // What the supervisor hears: engine facts wait while boot reconciliation builds the actors they are about.
  const facts = new FactGate<VplcFact>((name, fact) => supervisor.notify(name, fact));
  const tell = ([name, fact]: [string, VplcFact]) => supervisor.notify(name, fact);
  watch.onFact((name, fact) => facts.push(name, fact));
  sidecar.on('networkChanged', (iface) => networkChangeFacts(iface, supervisor.list()).forEach(tell));
  dhcp.onLeaseReported((name, vnic, lease) => {
    records.onLease(name, vnic);
    tell([name, { type: 'dhcp.lease', vnicName: vnic, ip: lease.ip, gateway: lease.gateway || null }]);
  });
  // What follows the supervisor: the files, serial passthrough, and the old agent's networks of a deleted runtime.
  records.follow(supervisor);
  supervisor.onChange((status) => serial.observe(status));
  serial.onChange(() => records.onSerialDevices());
  sidecar.on('serialChanged', () => void serial.sync());
  supervisor.onChange((status) => {
    if (status.phase !== 'deleted' || !adopted.has(status.name)) return;
    void adopted.release(status.name, {
      engine,
      watch,
      stillNeeded: (network) => networkInUseBy(supervisor.list(), network),
      log: child('reconcile'),
    });
  });

  const proxy = new RuntimeHttpProxy({
    allowedPorts: config.runCommand.ports,
    timeoutMs: config.runCommand.timeoutMs,
    maxBytes: config.runCommand.maxBytes,
    log: child('run-command'),
  });
  const readiness = new RuntimeReadiness({
    probe: (ip, signal) => proxy.probe({ ip }, { signal }),
    internalIp: (name) => watch.observed(name)?.internalIp ?? null,
    log: child('readiness'),
  });
  supervisor.onChange((status) => readiness.observe(status));
  const agentContainers = new AgentContainers(address, child('self-destruct'));
  const selfDestruct = new SelfDestruct({
    supervisor,
    engine,
    clearRecords: () => records.clear(),
    isOldAgentNetwork: (net) => footprint.ownsNetwork(net),
    upgradeRunning: (): boolean => upgrade.running(),
    removeVolumeAfterExit: async (self) => {
      const info = await agentContainers.inspect(self.id);
      const socket = info?.Mounts.find((m) => m.Destination === '/var/run/docker.sock')?.Source;
      const shared = info?.Mounts.find((m) => m.Destination === '/var/orchestrator');
      // Only the volume this agent itself mounts as its data folder, and only when it is the shared volume.
      if (!info || !socket || shared?.Type !== 'volume' || shared.Name !== SHARED_VOLUME) return;
      await agentContainers.runDetached(
        'orchestrator_cleanup',
        info.Image,
        ['node', '/app/dist/src/main.js', 'remove-volume-after', self.id, SHARED_VOLUME],
        [`${socket}:/var/run/docker.sock`],
      );
    },
    returnDedicatedNics: () => dedicated.returnAllToHost(),
    cleanupAllProxyArp: async () => {
      const reply = await sidecar.request({ command: 'cleanup_all_proxy_arp' }, 30_000);
      if (!reply.success) throw new Error(reply.error);
      return 'veths_removed' in reply ? reply.veths_removed : 0;
    },
    log: child('self-destruct'),
  });
  const upgrade = new Upgrade({
    containers: new AgentContainers(address, child('upgrade')),
    findSelf: () => engine.findSelf(),
    agentImage: config.upgradeAgentImage,
    netmonImage: config.upgradeNetmonImage,
    connectTimeoutSec: config.upgradeConnectTimeout / 1000,
    dataDir: config.dataDir,
    version: agentVersion(),
    selfDestructRunning: (): boolean => selfDestruct.running(),
    log: child('upgrade'),
  });
  // run_command on a WebRTC data channel takes the cloud topic's path (contract, checks, limits, timeout) through
  // a router of its own: without the idempotency cache, whose correlation ids are the cloud's.
  const remoteDebug = new RemoteDebug({
    proxy,
    status: (name) => supervisor.status(name),
    internalIp: (name) => watch.observed(name)?.internalIp ?? null,
    allowedPorts: config.runCommand.ports,
    limits: { perVplc: config.debug.maxPerVplc, total: config.debug.maxSessions },
    iceServers: config.debug.iceServers,
    hostAddresses: config.debug.hostAddresses,
    maxTransferChars: config.cloudMaxMessageBytes,
    runCommand: (payload) => channelRunCommand(channelRouter, payload),
    log: child('debug'),
  });
  supervisor.onChange((status) => remoteDebug.observe(status));
  const handlers = createTopicHandlers({
    supervisor,
    watch,
    sidecar,
    proxy,
    hostMetrics,
    orchestratorUsage,
    leases,
    dedicatedNics: () => dedicated.all(),
    selfDestruct,
    upgrade,
    serial,
    runCommandPorts: config.runCommand.ports,
    runtimeImage: config.runtimeImage,
    versions: () => orchestratorVersions({ version: agentVersion(), sidecar, engine, log: child('versions') }),
    engineAddress: showDockerHost(config.dockerHost),
    runCommandLimits: { perVplc: config.runCommand.maxPerVplc, total: config.runCommand.maxConcurrent },
    readiness,
    debug: { http: remoteDebug.http, webrtc: remoteDebug.webrtc },
    log,
  });
  // The proxy has its own deadline; give it room to answer with its own, more precise error.
  const topicTimeoutsMs = { run_command: config.runCommand.timeoutMs + 5_000 };
  const router = new TopicRouter({
    handlers,
    log: child('router'),
    idempotency: new IdempotencyCache(),
    topicTimeoutsMs,
    ...(metrics && { observe: (topic, seconds, error) => metrics.request(topic, seconds, error) }),
  });
  const channelRouter = new TopicRouter({ handlers, log: child('webrtc-router'), topicTimeoutsMs });
  const gate = new ReconcileGate();
  const route: Dispatch = (topic, args, emit) => void router.dispatch(topic, args, emit);
  const cloud = new CloudLink({
    connector: new CloudConnector({
      // A getter in local mode: the endpoint's port is known once it listens, before the link first connects.
      get url() {
        return cloudTarget.url;
      },
      identity,
      log: child('cloud'),
      maxMessageBytes: config.cloudMaxMessageBytes,
    }),
    dispatch: local ? gatedDispatch(route, gate, showDockerHost(config.dockerHost), child('router')) : route,
    heartbeat: async () =>
      heartbeatPayload({ id: identity.agentId, version: agentVersion() }, await hostMetrics.sample()),
    log: child('cloud'),
    random: opts.random,
    heartbeatIntervalMs: opts.heartbeatIntervalMs,
    onFatal: opts.onFatal,
    ...(metrics && { onHeartbeat: (latenessMs) => metrics.heartbeatSent(latenessMs / 1000) }),
  });

  const liveness = new LivenessBeat(undefined, (err) =>
    log.warn(
      { err: errorText(err) },
      'could not write the liveness beat; the health check will call the agent unhealthy',
    ),
  );

  const boot = new AbortController();
  // Dedicated NICs of runtimes that no longer exist go home once the actors of those that do are built, and again
  // on every sidecar (re)connection (a return needs the sidecar when the runtime still runs).
  let bootDone = false;
  const returnOrphanNics = async () => {
    if (!bootDone) return;
    await dedicated
      .reconcile(new Set(supervisor.list().map((s) => s.name)))
      .catch((err: unknown) => log.warn({ err: errorText(err) }, 'dedicated NIC reconciliation failed'));
  };
  sidecar.on('connected', () => void returnOrphanNics());
  let engineProblem: string | null = null;
  const runReconcile = async () => {
    await reconcile({
      engine,
      supervisor,
      ops,
      watch,
      records,
      loaded,
      adopted,
      footprint,
      log: child('reconcile'),
      signal: boot.signal,
      dedicatedOf: (name) => dedicatedStore.get(name),
      onEngineUnavailable: (err) => {
        engineProblem = err instanceof EngineError ? (err.engineMessage ?? err.message) : errorText(err);
        gate.engineUnavailable(engineProblem);
      },
    });
    engineProblem = null;
    facts.open();
    gate.open();
    bootDone = true;
    await returnOrphanNics();
  };
  const bootModule: AgentModule = local
    ? {
        // Local mode: reconciliation runs beside the link; the gate holds back what needs it.
        name: 'boot',
        start: () => {
          runReconcile().catch((err: unknown) => {
            if (!boot.signal.aborted) log.error({ err: errorText(err) }, 'boot reconciliation failed');
          });
        },
        stop: () => boot.abort(),
      }
    : {
        // Before the cloud hears from us: one actor per runtime, interrupted operations finished or rolled back.
        name: 'boot',
        start: runReconcile,
        stop: () => boot.abort(),
      };
  let metricsServer: Listening | null = null;
  const metricsModule: AgentModule[] =
    metricsFeed && config.metrics
      ? [
          {
            name: 'metrics',
            start: async () => {
              metricsFeed.follow();
              metricsServer = await serveMetrics(config.metrics!, metricsFeed.metrics, child('metrics'));
            },
            stop: async () => {
              metricsFeed.stop();
              await metricsServer?.close();
            },
          },
        ]
      : [];
  const inspector =
    config.inspect === null && config.inspectForward === null
      ? null
      : (await import('./inspector/module.js')).inspectorModule({
          config,
          supervisor,
          links: { cloud, sidecar },
          log: child('inspector'),
        });
  const modules: AgentModule[] = [
    { name: 'store', start: () => {}, stop: () => store.close() },
    { name: 'records', start: () => {}, stop: () => records.flush() },
    { name: 'host-metrics', start: () => hostMetrics.start(), stop: () => {} },
    { name: 'usage', start: () => usageSampler.start(), stop: () => usageSampler.stop() },
    { name: 'container-watch', start: () => watch.start(), stop: () => watch.stop() },
    { name: 'sidecar', start: () => sidecar.start(), stop: () => sidecar.stop() },
    { name: 'dhcp', start: () => {}, stop: () => dhcp.close() },
    { name: 'supervisor', start: () => {}, stop: () => supervisor.stop() },
    ...metricsModule,
    ...(inspector ? [inspector.module] : []),
    bootModule,
    { name: 'run-command', start: () => {}, stop: () => proxy.close() },
    { name: 'remote-debug', start: () => {}, stop: () => remoteDebug.stop() },
    { name: 'readiness', start: () => {}, stop: () => readiness.stop() },
    { name: 'self-destruct', start: () => {}, stop: () => selfDestruct.stop() },
    { name: 'upgrade', start: () => upgrade.start(), stop: () => upgrade.stop() },
    ...(local ? [local.module] : []),
    { name: 'cloud', start: () => cloud.start(), stop: () => cloud.stop() },
    // Last: the image's health check calls the agent alive only once everything above has started.
    { name: 'liveness', start: () => liveness.start(), stop: () => liveness.stop() },
  ];
  const running = await startModules(modules, log);
  log.info(
    { agentId: identity.agentId, cloudUrl: displayUrl(cloudTarget.url), local: local !== null },
    'agent started',
  );

  const engineAddress = showDockerHost(config.dockerHost);
  const localView: LocalModeView | null = local && {
    endpointUrl: local.endpoint.url,
    endpointFile: local.layout.endpointFile,
    caFile: local.layout.caFile,
    docker: async (waitMs) => {
      await gate.admit(waitMs);
      return { address: engineAddress, reachable: gate.isOpen(), problem: gate.isOpen() ? null : engineProblem };
    },
  };
  return {
    agentId: identity.agentId,
    cloud,
    supervisor,
    local: localView,
    metricsUrl: metricsServer === null ? null : `${(metricsServer as Listening).url}/metrics`,
    inspectorUrl: inspector?.url() ?? null,
    stop: () => running.stop(),
  };
}

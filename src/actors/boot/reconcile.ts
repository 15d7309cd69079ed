import type { Logger } from 'pino';
import type { ContainerFacts, NetworkFacts } from '../../io/docker/convert.js';
import type { ContainerListing, NetworkOwnership, RemoveNetworkOutcome } from '../../io/docker/engine.js';
import { isManagedRuntime, LABEL_NETWORK_KIND, LABEL_VPLC, specFromLabels } from '../../io/docker/labels.js';
import { internalNetworkName } from '../../model/names.js';
import type { JournalEntry } from '../../io/store/journal.js';
import type { LoadedState } from '../../io/store/stateStore.js';
import type { ObservedRuntime } from '../../machines/supervisor/types.js';
import type { VplcOps } from '../../machines/vplc/ports.js';
import type { SerialConfig, VnicConfig, VplcSpec } from '../../model/vplc.js';
import { receivedVnic } from '../state/records.js';
import type { Admission, CommandName, Requester } from '../vplc/supervisor.js';
import type { AdoptedRuntimes } from './adoptedRuntimes.js';
import { OldAgentFootprint } from './oldAgentFootprint.js';
import { macvlanParentOf, runtimeOfInternalNetwork, splitImageReference } from '../../model/names.js';
import { isImageTag } from '../../machines/vplc/validate.js';
import { backoffMs } from '../../model/backoff.js';
import { errorText } from '../../model/errors.js';

/**
 * Boot reconciliation: before the agent answers the cloud, every runtime it is responsible for gets one lifecycle
 * actor in the state Docker shows, and every operation a crash interrupted is finished (or, for a create that keeps
 * killing the agent, rolled back). Runtimes found running are adopted: they join the agent's network and renew DHCP
 * as after our own start. The supervisor is told when this is done, and only then takes the cloud's requests.
 *
 * Runtimes are found in three places: containers carrying our labels, the intent journal, and the files
 * the old agent also kept (`clients.json`, `runtime_vnics.json`, `serial_configs.json`) — it set no labels, so an
 * unlabelled container is its runtime only when those files name it and it has the shape the old agent gave its
 * runtimes (OldAgentFootprint). Those are adopted as they run: the restart policy `always` is switched to `no` with
 * a container update (the PLC keeps running), and our labels arrive with the next recreate. Any other container is
 * left exactly as it is, whatever its name or its networks.
 */

/** What reconciliation asks of the engine (a subset of DockerEngine). */
export interface ReconcileEngine {
  listManagedContainers(): Promise<ContainerListing[]>;
  listContainers(opts: { names?: string[] }): Promise<ContainerListing[]>;
  inspectContainer(name: string): Promise<ContainerFacts | undefined>;
  networksByDriver(driver: string): Promise<NetworkFacts[]>;
  removeNetworkIfUnused(name: string, ownership: NetworkOwnership): Promise<RemoveNetworkOutcome>;
  ensureRestartPolicy(name: string, policy?: 'no'): Promise<'updated' | 'unchanged' | 'absent'>;
  ensureInternalNetwork(runtimeName: string): Promise<unknown>;
  connect(network: string, container: string): Promise<void>;
}

export interface ReconcileSupervisor {
  adopt(spec: VplcSpec, observed: ObservedRuntime): void;
  create(spec: VplcSpec, by: Requester): Admission;
  command(name: string, cmd: CommandName, by: Requester): Admission;
  /** Every runtime found has an actor: from now on the supervisor takes the cloud's requests. */
  reconciled(): void;
}

export interface ReconcileRecords {
  journalEntry(name: string): JournalEntry | undefined;
  noteInterrupted(name: string): number;
  forget(name: string): void;
}

export interface ReconcileDeps {
  engine: ReconcileEngine;
  supervisor: ReconcileSupervisor;
  ops: Pick<VplcOps, 'removeContainer' | 'removeNetworks'>;
  watch: {
    track(name: string): void;
    refresh(name: string): Promise<unknown>;
    /** What the watch already saw of a runtime's container (its first look precedes reconciliation). */
    observed?(name: string): { id: string } | undefined;
  };
  records: ReconcileRecords;
  /** The files as read at start (before anything was adopted). */
  loaded: LoadedState;
  /**
   * What the old agent's files prove it made: only such unlabelled runtimes are adopted. Default: read from
   * `loaded`; the agent passes its own, which self-destruct reads later.
   */
  footprint?: OldAgentFootprint;
  adopted: AdoptedRuntimes;
  log: Logger;
  /** A create found in flight this many times is rolled back instead of finished again (default 3). */
  maxInterruptions?: number;
  /** Backoff while the engine does not answer (default 1 s doubling to 10 s). */
  retryMs?: { initial: number; max: number };
  /** Told each time the engine did not answer; reconciliation goes on waiting for it. */
  onEngineUnavailable?: (err: unknown) => void;
  signal?: AbortSignal;
  /** The NIC dedicated_nics.json dedicates to a runtime (docs/protocol.md#dedicated-nics). */
  dedicatedOf?: (name: string) => string | undefined;
}

export type ReconcileAction =
  | 'adopted'
  | 'create.resumed'
  | 'create.restarted'
  | 'create.rolled_back'
  | 'delete.resumed'
  | 'start.resumed'
  | 'stop.resumed';

export interface ReconcileSummary {
  /** Per runtime: the state it was adopted in and what was done about an interrupted operation. */
  runtimes: Record<string, { found: ObservedRuntime['state']; action: ReconcileAction; legacy: boolean }>;
  removedNetworks: string[];
}

/** Names the agent must never take for a runtime: the agent's and the sidecar's containers. */
const NOT_RUNTIMES = new Set(['orchestrator_agent', 'autonomy_netmon']);

interface Candidate {
  spec: VplcSpec;
  source: 'labels' | 'journal' | 'files';
  facts: ContainerFacts | undefined;
  legacy: boolean;
}

interface DockerView {
  managed: ContainerListing[];
  bridges: NetworkFacts[];
  macvlans: NetworkFacts[];
}

function specFromFiles(name: string, loaded: LoadedState): VplcSpec | undefined {
  const vnics = loaded.runtimeVnics.get(name);
  const serials = loaded.serialConfigs.get(name)?.serial_ports;
  if (!vnics && !serials && !loaded.clients.has(name)) return undefined;
  return {
    name,
    vnics: (vnics ?? []).map((v) => receivedVnic(v)),
    serials: (serials ?? []).map(
      (p): SerialConfig => ({ name: p.name, device_id: p.device_id, container_path: p.container_path }),
    ),
  };
}

function specFromJournal(entry: JournalEntry | undefined): VplcSpec | undefined {
  if (!entry) return undefined;
  return {
    name: entry.spec.name,
    vnics: entry.spec.vnics as unknown as VnicConfig[],
    serials: entry.spec.serials as unknown as SerialConfig[],
    ...(entry.spec.runtimeVersion !== undefined ? { runtimeVersion: entry.spec.runtimeVersion } : {}),
    ...(entry.spec.dedicated_interface ? { dedicatedInterface: entry.spec.dedicated_interface } : {}),
  };
}

/** The tag of an old agent's runtime image (`…/openplc-runtime:<runtime_version>`), when it is a usable tag. */
function legacyRuntimeVersion(image: string): string | undefined {
  const { tag } = splitImageReference(image);
  return tag !== null && isImageTag(tag) ? tag : undefined;
}

function observedOf(facts: ContainerFacts | undefined): ObservedRuntime {
  if (!facts) return { state: 'missing', containerId: null };
  if (facts.running) return { state: 'running', containerId: facts.id, startedAt: facts.startedAt };
  return { state: 'stopped', containerId: facts.id };
}

export async function reconcile(deps: ReconcileDeps): Promise<ReconcileSummary> {
  const { engine, log, loaded } = deps;
  const footprint = deps.footprint ?? OldAgentFootprint.fromFiles(loaded);
  const maxInterruptions = deps.maxInterruptions ?? 3;
  const view = await readDocker(deps);

  // 1. Every runtime this agent is responsible for, with the best spec known for it.
  const candidates = new Map<string, Candidate>();
  const add = (name: string, spec: VplcSpec | undefined, source: Candidate['source']) => {
    if (candidates.has(name) || NOT_RUNTIMES.has(name)) return;
    const found = spec ?? specFromJournal(deps.records.journalEntry(name)) ?? specFromFiles(name, loaded);
    const base = found ?? { name, vnics: [], serials: [] };
    // dedicated_nics.json knows the NIC of a runtime whose labels or files do not (the old agent's, say).
    const dedicated = base.dedicatedInterface ?? deps.dedicatedOf?.(name);
    const withNic = dedicated === undefined ? base : { ...base, dedicatedInterface: dedicated };
    candidates.set(name, { spec: withNic, source, facts: undefined, legacy: false });
  };
  for (const c of view.managed) {
    if (!isManagedRuntime(c.labels)) continue;
    const fromLabels = specFromLabels(c.name, c.labels) as VplcSpec | undefined;
    if (!fromLabels) log.warn({ vplc: c.name }, 'runtime labels are damaged; its spec comes from the journal or files');
    add(c.name, fromLabels, 'labels');
  }
  for (const [name, entry] of loaded.journal.vplcs) add(name, specFromJournal(entry), 'journal');
  for (const name of new Set([
    ...loaded.clients.keys(),
    ...loaded.runtimeVnics.keys(),
    ...loaded.serialConfigs.keys(),
  ])) {
    add(name, specFromFiles(name, loaded), 'files');
  }
  // An unlabelled container on an unlabelled `<name>_internal` bridge that no file names is not taken: it may be
  // anybody's (a compose project's `web` on `web_internal`). It is only reported, so an engineer can tell.
  for (const net of view.bridges) {
    const name = runtimeOfInternalNetwork(net.name);
    if (net.managed || name === null || candidates.has(name)) continue;
    if (Object.values(net.containers).some((c) => c.name === name)) {
      log.warn(
        { step: 'reconcile.not_adopted', vplc: name, network: net.name },
        "container on a network named like a runtime's internal network, but neither our labels nor the old agent's files name it; left alone",
      );
    }
  }

  await Promise.all(
    [...candidates.entries()].map(async ([name, c]) => {
      const facts = await engine.inspectContainer(name);
      if (!facts) {
        // Only the files (or the journal) know it: the old agent's files make it the old agent's.
        c.legacy = c.source === 'files';
        return;
      }
      if (isManagedRuntime(facts.labels)) {
        c.facts = facts;
        return;
      }
      if (footprint.isOldAgentRuntime(facts)) {
        c.facts = facts;
        c.legacy = true;
        // The old agent labelled nothing: its runtime_version is the tag of the image it ran the runtime from.
        const version = legacyRuntimeVersion(facts.image);
        if (version !== undefined && c.spec.runtimeVersion === undefined)
          c.spec = { ...c.spec, runtimeVersion: version };
        return;
      }
      // A container holds the name but is neither ours nor the old agent's: the vPLC is supervised without a
      // container, and that container is never touched (its restart policy, its networks) nor reported.
      c.legacy = c.source === 'files';
      log.warn(
        { step: 'reconcile.foreign_container', vplc: name, container: facts.id, source: c.source },
        'a container with the name of a known vPLC is not a runtime of this agent or of the old agent; left alone',
      );
    }),
  );

  // 2. Networks we created that no runtime needs any more (a create or delete cut short before the journal knew).
  const removedNetworks = await removeOrphanNetworks(deps, view, new Set(candidates.keys()));

  // 3. One actor per runtime, and the interrupted operations finished.
  // Keyed by runtime names from outside: without a prototype, `__proto__` or `constructor` are keys like any other.
  const summary: ReconcileSummary = { runtimes: Object.create(null) as ReconcileSummary['runtimes'], removedNetworks };
  // Each runtime's settling is a few Docker calls of its own; one after another, 50 runtimes kept the agent from
  // the cloud for seconds. A bound keeps a large fleet from flooding the engine.
  await eachBounded([...candidates], SETTLE_CONCURRENCY, async ([name, c]) => {
    try {
      const action = await settle(deps, footprint, name, c, maxInterruptions);
      summary.runtimes[name] = { found: observedOf(c.facts).state, action, legacy: c.legacy };
    } catch (err) {
      log.error({ step: 'reconcile.failed', vplc: name, err: errorText(err) }, 'could not reconcile runtime');
      // Still give it an actor, so the cloud sees it and can act on it.
      deps.supervisor.adopt(c.spec, observedOf(c.facts));
      summary.runtimes[name] = { found: observedOf(c.facts).state, action: 'adopted', legacy: c.legacy };
    }
  });
  deps.supervisor.reconciled();
  log.info({ step: 'reconcile.done', ...summary }, 'boot reconciliation done');
  return summary;
}

/** Runtimes settled side by side at boot. */
const SETTLE_CONCURRENCY = 8;

/** `work` on every item, at most `limit` at a time. */
async function eachBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Read what reconciliation needs from Docker, waiting (with backoff) while the engine does not answer. */
async function readDocker(deps: ReconcileDeps): Promise<DockerView> {
  const initial = deps.retryMs?.initial ?? 1_000;
  const max = deps.retryMs?.max ?? 10_000;
  for (let attempt = 0; ; attempt++) {
    deps.signal?.throwIfAborted();
    try {
      const [managed, bridges, macvlans] = await Promise.all([
        deps.engine.listManagedContainers(),
        deps.engine.networksByDriver('bridge'),
        deps.engine.networksByDriver('macvlan'),
      ]);
      return { managed, bridges, macvlans };
    } catch (err) {
      const delay = backoffMs(attempt, { baseMs: initial, maxMs: max });
      deps.onEngineUnavailable?.(err);
      deps.log.warn(
        { step: 'reconcile.engine_unavailable', err: errorText(err), retryInMs: delay },
        'Docker engine unavailable at start; the agent answers the cloud once it has reconciled its runtimes',
      );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        deps.signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

async function removeOrphanNetworks(deps: ReconcileDeps, view: DockerView, known: Set<string>): Promise<string[]> {
  const orphans: string[] = [];
  for (const net of view.bridges) {
    if (!net.managed || net.labels[LABEL_NETWORK_KIND] !== 'internal') continue;
    const owner = net.labels[LABEL_VPLC];
    if (owner !== undefined && !known.has(owner)) orphans.push(net.name);
  }
  for (const net of view.macvlans) {
    if (net.managed && Object.keys(net.containers).length === 0) orphans.push(net.name);
  }
  const removed: string[] = [];
  for (const name of orphans) {
    try {
      // Still checks for containers using it (created ones too): only truly unused networks go.
      const outcome = await deps.engine.removeNetworkIfUnused(name, { requireOwned: true });
      if (outcome === 'removed') removed.push(name);
    } catch (err) {
      deps.log.warn(
        { step: 'reconcile.network_cleanup_failed', network: name, err: errorText(err) },
        'orphan network left',
      );
    }
  }
  return removed;
}

/** Adopt one runtime and finish what the journal says was in flight. */
async function settle(
  deps: ReconcileDeps,
  footprint: OldAgentFootprint,
  name: string,
  c: Candidate,
  maxInterruptions: number,
): Promise<ReconcileAction> {
  const { engine, supervisor, log } = deps;
  const entry = deps.records.journalEntry(name);
  const operation = entry?.operation ?? null;
  const vlog = log.child({ vplc: name });

  if (c.legacy) {
    const networks = legacyNetworks(name, c, deps.loaded);
    deps.adopted.add(name, networks, c.facts?.id ?? null);
    footprint.noteNetworks(networks);
    deps.watch.track(name);
  }
  if (c.facts) {
    // By id: the container just proven ours, not whatever holds the name a moment later.
    const policy = await engine.ensureRestartPolicy(c.facts.id, 'no');
    if (policy === 'updated')
      vlog.info({ step: 'reconcile.restart_policy' }, 'restart policy set to no (watchdog owns restarts)');
    // The watch looked at every labelled runtime just before reconciliation and follows the event stream since;
    // it has to look again only at a container it has not seen (an unlabelled runtime of the old agent, just
    // tracked) or no longer holds.
    if (deps.watch.observed?.(name)?.id !== c.facts.id) await deps.watch.refresh(name);
  }

  if (operation === 'create') {
    const count = deps.records.noteInterrupted(name);
    if (count > maxInterruptions) {
      vlog.error(
        { step: 'reconcile.create_rolled_back', interruptions: count },
        'create was interrupted too many times; rolling it back',
      );
      await deps.ops.removeContainer(name);
      await deps.ops.removeNetworks(c.spec);
      deps.records.forget(name);
      return 'create.rolled_back';
    }
    if (c.facts?.running) {
      // Started already: the adoption joins its network and asks for DHCP, which is what the create had left.
      supervisor.adopt(c.spec, observedOf(c.facts));
      return 'create.resumed';
    }
    if (c.facts) {
      // Created, not started. On API < 1.44 the internal network is connected after create: a crash in between
      // leaves it out.
      const internal = internalNetworkName(name);
      if (!c.facts.networks[internal]) {
        await engine.ensureInternalNetwork(name);
        await engine.connect(internal, c.facts.id);
      }
      supervisor.adopt(c.spec, observedOf(c.facts));
      follow(vlog, 'start', supervisor.command(name, 'START', 'reconciliation'));
      return 'create.resumed';
    }
    follow(vlog, 'create', supervisor.create(c.spec, 'reconciliation'));
    return 'create.restarted';
  }

  let observed = observedOf(c.facts);
  // A vPLC that sat in `failed` (crash loop, failed operation) stays failed with its reason until the cloud acts,
  // also across an agent restart — unless someone started its container meanwhile.
  if (entry?.state.startsWith('failed') && observed.state !== 'running' && operation === null) {
    observed = { ...observed, state: 'failed', failureReason: entry.failure };
  }
  supervisor.adopt(c.spec, observed);
  if (operation === 'delete') {
    follow(vlog, 'delete', supervisor.command(name, 'DELETE', 'reconciliation'));
    return 'delete.resumed';
  }
  if (observed.state === 'stopped') {
    // A runtime that should run but is down: the operation that started it was cut short, or the host lost power
    // (with restart policy `no`, nobody else starts it). A runtime that sat in `failed` waits for the cloud.
    const shouldRun =
      operation === 'start' ||
      operation === 'restart' ||
      (entry?.desired === 'running' && !entry.state.startsWith('failed') && operation !== 'stop');
    if (shouldRun) {
      follow(vlog, 'start', supervisor.command(name, 'START', 'reconciliation'));
      return 'start.resumed';
    }
  }
  if (observed.state === 'running' && operation === 'stop') {
    follow(vlog, 'stop', supervisor.command(name, 'STOP', 'reconciliation'));
    return 'stop.resumed';
  }
  return 'adopted';
}

/** The unlabelled MACVLAN networks an old-agent runtime uses (from the engine and from runtime_vnics.json). */
function legacyNetworks(name: string, c: Candidate, loaded: LoadedState): string[] {
  const names = new Set<string>();
  for (const network of Object.keys(c.facts?.networks ?? {})) if (macvlanParentOf(network) !== null) names.add(network);
  for (const record of loaded.runtimeVnics.get(name) ?? []) {
    const network = record.docker_network_name;
    if (typeof network === 'string' && macvlanParentOf(network) !== null) names.add(network);
  }
  return [...names];
}

function follow(log: Logger, what: string, admission: Admission): void {
  if (!admission.accepted) {
    log.error(
      { step: 'reconcile.refused', operation: what, reason: admission.reason },
      'interrupted operation refused',
    );
    return;
  }
  log.info({ step: 'reconcile.resumed', operation: what }, 'finishing an interrupted operation');
  void admission.done.then((outcome) =>
    outcome.success
      ? log.info({ step: 'reconcile.finished', operation: what }, 'interrupted operation finished')
      : log.error(
          { step: 'reconcile.finished', operation: what, error: outcome.error },
          'interrupted operation failed',
        ),
  );
}

import type { Logger } from 'pino';
import type { ContainerFact, ContainerFacts, ObservedContainer } from '../../model/facts.js';

export type { ContainerFact, ObservedContainer } from '../../model/facts.js';
import type { ContainerListing, DockerEngine } from '../../io/docker/engine.js';
import { ContainerEventStream, type EngineContainerEvent } from '../../io/docker/events.js';
import { StatsSampler } from '../../io/docker/stats.js';
import { UsageBuffer } from '../../io/metrics/usageBuffer.js';
import { isManagedRuntime } from '../../io/docker/labels.js';

export type FactListener = (name: string, fact: ContainerFact) => void;

export interface ContainerWatchOptions {
  engine: DockerEngine;
  log: Logger;
  /** Stats and list period (default 5 s, like the heartbeat). */
  sampleIntervalMs?: number;
  /** Usage history kept per vPLC (default 48 h). */
  retentionMs?: number;
  /** Every this many periods, re-inspect every container even without a state change (health). Default 6. */
  fullRefreshEvery?: number;
  eventBackoffMs?: { initial: number; max: number };
  /**
   * Adjusts a runtime's networks as reported to readers: Docker keeps showing its own MAC for an endpoint whose
   * MAC the agent set inside the container after a network move, so the agent substitutes the real one.
   */
  presentNetworks?: (name: string, networks: ObservedContainer['networks']) => ObservedContainer['networks'];
  /**
   * Whether a container found under a runtime's name is that runtime: ours by its labels, or the very container
   * adopted from the old agent (AdoptedRuntimes.ownsContainer). Any other container of that name is treated as
   * absent, so its state never reaches a vPLC or a status reply. Default: our labels, or a tracked name.
   */
  owns?: (facts: ContainerFacts) => boolean;
}

/** Per name: the last lifecycle fact told, so events and periodic diffs never tell the same thing twice. */
interface Told {
  containerId: string;
  fact: 'started' | 'died' | 'removed';
  startedAt: string | null;
}

function toObserved(f: ContainerFacts): ObservedContainer {
  return { ...f, observedAt: new Date().toISOString() };
}

/**
 * Watches every runtime container: ONE Docker events stream (label-filtered) turns start/die/destroy into facts,
 * a periodic list catches what the stream missed (dockerd restarts, runtimes adopted from the old agent that carry
 * no labels), and a concurrent stats sampler fills a usage buffer per vPLC. Status and usage answers come from here,
 * never from a Docker call per request.
 */
export class ContainerWatch {
  private readonly engine: DockerEngine;
  private readonly log: Logger;
  private readonly presentNetworks: ContainerWatchOptions['presentNetworks'];
  private readonly owns: (facts: ContainerFacts) => boolean;
  private readonly intervalMs: number;
  private readonly retentionMs: number | undefined;
  private readonly fullRefreshEvery: number;
  private readonly events: ContainerEventStream;
  private readonly sampler: StatsSampler;
  private readonly listeners = new Set<FactListener>();
  private readonly cache = new Map<string, ObservedContainer>();
  private readonly told = new Map<string, Told>();
  private readonly buffers = new Map<string, UsageBuffer>();
  /** Unlabelled runtimes (adopted from the old agent) that the label-filtered stream cannot see. */
  private readonly tracked = new Set<string>();
  /** Serialises event handling and periodic diffs so facts keep Docker's order. */
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private running = false;
  private streamUp = false;
  private listOk = false;
  private tickInFlight: Promise<void> | undefined;

  constructor(options: ContainerWatchOptions) {
    this.presentNetworks = options.presentNetworks;
    this.owns = options.owns ?? ((facts) => isManagedRuntime(facts.labels) || this.tracked.has(facts.name));
    this.engine = options.engine;
    this.log = options.log;
    this.intervalMs = options.sampleIntervalMs ?? 5_000;
    this.retentionMs = options.retentionMs;
    this.fullRefreshEvery = options.fullRefreshEvery ?? 6;
    this.sampler = new StatsSampler({ engine: this.engine, log: this.log });
    this.events = new ContainerEventStream({
      engine: this.engine,
      log: this.log,
      initialBackoffMs: options.eventBackoffMs?.initial,
      maxBackoffMs: options.eventBackoffMs?.max,
      onEvent: (event) => this.enqueue(() => this.handleEvent(event)),
      onConnection: (up) => {
        this.streamUp = up;
        // After a gap (dockerd restart), what happened meanwhile is learnt from a fresh list.
        if (up && this.running) this.enqueue(() => this.resync(true));
      },
    });
  }

  /** First look at every runtime (no facts for what already was), then the stream and the sampler. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.enqueue(() => this.resync(false)).catch((err: unknown) =>
      this.log.warn({ step: 'watch.initial_sync_failed', err }, 'could not list runtime containers at start'),
    );
    this.events.start();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.events.stop();
    await this.tickInFlight;
    await this.queue;
  }

  /** Subscribe to lifecycle facts; returns the unsubscribe function. */
  onFact(listener: FactListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The usage buffer of a runtime (created when it is first seen). */
  usage(name: string): UsageBuffer | undefined {
    return this.buffers.get(name);
  }

  /** Last observed state of a runtime's container; `undefined` when there is none. */
  observed(name: string): ObservedContainer | undefined {
    const observed = this.cache.get(name);
    if (!observed || !this.presentNetworks) return observed;
    return { ...observed, networks: this.presentNetworks(name, observed.networks) };
  }

  /** False while dockerd cannot be reached (events stream down and the last list failed). */
  engineAvailable(): boolean {
    return this.streamUp || this.listOk;
  }

  /** Also observe this unlabelled container name (a runtime adopted from the old agent). */
  track(name: string): void {
    this.tracked.add(name);
  }

  untrack(name: string): void {
    this.tracked.delete(name);
  }

  /** Re-inspect one runtime now (after an operation) and return what was seen. */
  refresh(name: string): Promise<ObservedContainer | undefined> {
    return this.enqueue(async () => {
      await this.inspectInto(name);
      return this.cache.get(name);
    });
  }

  // ---------------------------------------------------------------- internals

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private tell(name: string, fact: ContainerFact): void {
    for (const listener of this.listeners) {
      try {
        listener(name, fact);
      } catch (err) {
        this.log.error({ step: 'watch.listener_failed', err, vplc: name, fact: fact.type }, 'fact listener threw');
      }
    }
  }

  private bufferFor(name: string): UsageBuffer {
    let buffer = this.buffers.get(name);
    if (!buffer) {
      buffer = new UsageBuffer(this.retentionMs === undefined ? {} : { retentionMs: this.retentionMs });
      this.buffers.set(name, buffer);
    }
    return buffer;
  }

  private async inspectInto(name: string): Promise<ContainerFacts | undefined> {
    const found = await this.engine.inspectContainer(name);
    const facts = found && this.owns(found) ? found : undefined;
    if (facts) {
      this.cache.set(name, toObserved(facts));
      this.bufferFor(name);
    } else {
      this.cache.delete(name);
    }
    return facts;
  }

  private tellStarted(name: string, containerId: string, startedAt: string): void {
    const prev = this.told.get(name);
    if (prev?.fact === 'started' && prev.containerId === containerId && prev.startedAt === startedAt) return;
    if (prev?.fact === 'started' && prev.containerId === containerId) {
      // It died and came back while we were not looking: tell both halves.
      this.tell(name, { type: 'container.died', exitCode: null, oomKilled: false, at: startedAt });
    }
    this.told.set(name, { containerId, fact: 'started', startedAt });
    this.tell(name, { type: 'container.started', containerId, startedAt });
  }

  private tellDied(name: string, containerId: string, fact: Extract<ContainerFact, { type: 'container.died' }>): void {
    const prev = this.told.get(name);
    if (prev && prev.fact !== 'started') return;
    this.told.set(name, { containerId, fact: 'died', startedAt: prev?.startedAt ?? null });
    this.sampler.forget(containerId);
    this.tell(name, fact);
  }

  private tellRemoved(name: string): void {
    const prev = this.told.get(name);
    if (prev?.fact === 'removed') return;
    this.told.set(name, { containerId: prev?.containerId ?? '', fact: 'removed', startedAt: null });
    this.cache.delete(name);
    this.buffers.delete(name);
    this.tell(name, { type: 'container.removed' });
  }

  private async handleEvent(event: EngineContainerEvent): Promise<void> {
    const name = event.name;
    if (event.kind === 'destroy') {
      // A destroy of an older container with the same name must not hide the current one.
      const current = this.cache.get(name);
      if (current && current.id !== event.id) return;
      this.tellRemoved(name);
      return;
    }
    const facts = await this.inspectInto(name).catch((err: unknown) => {
      this.log.warn({ step: 'watch.inspect_failed', vplc: name, err }, 'could not inspect container after an event');
      return undefined;
    });
    if (event.kind === 'start') {
      this.tellStarted(name, event.id, facts?.id === event.id && facts.startedAt ? facts.startedAt : event.at);
      return;
    }
    const sameContainer = facts?.id === event.id;
    this.tellDied(name, event.id, {
      type: 'container.died',
      exitCode: event.exitCode ?? (sameContainer ? facts.exitCode : null),
      // The `oom` event may arrive late or not at all (cgroup v1 quirks): the inspect's OOMKilled also counts.
      oomKilled: event.oomKilled || (sameContainer && facts.oomKilled),
      at: sameContainer && facts.finishedAt ? facts.finishedAt : event.at,
    });
  }

  /**
   * Compare a fresh list with what we told. `tellChanges` is false for the very first look (the supervisor reads
   * `observed()` to reconcile) and true after a reconnect or on the periodic check.
   */
  private async resync(tellChanges: boolean, listing?: ContainerListing[]): Promise<void> {
    let listed: ContainerListing[];
    try {
      listed = listing ?? (await this.listRuntimes());
      this.listOk = true;
    } catch (err) {
      // Unreachable or not answering in time: either way status answers are stale.
      this.listOk = false;
      throw err;
    }
    const full = !tellChanges || this.ticks % this.fullRefreshEvery === 0;
    const seen = new Set<string>();
    await Promise.all(
      listed.map(async (c) => {
        seen.add(c.name);
        const cached = this.cache.get(c.name);
        const changed = !cached || cached.id !== c.id || cached.running !== (c.state === 'running');
        if (!changed && !full) return;
        const facts = await this.inspectInto(c.name).catch(() => 'failed' as const);
        if (facts === 'failed') return;
        if (!facts) {
          // Gone between the list and the inspect.
          seen.delete(c.name);
          return;
        }
        if (!tellChanges) {
          this.told.set(c.name, {
            containerId: facts.id,
            fact: facts.running ? 'started' : 'died',
            startedAt: facts.startedAt,
          });
          return;
        }
        if (facts.running && facts.startedAt) this.tellStarted(c.name, facts.id, facts.startedAt);
        else if (!facts.running) {
          this.tellDied(c.name, facts.id, {
            type: 'container.died',
            exitCode: facts.exitCode,
            oomKilled: facts.oomKilled,
            at: facts.finishedAt ?? new Date().toISOString(),
          });
        }
      }),
    );
    const known = new Set(this.cache.keys());
    for (const [name, told] of this.told) if (told.fact !== 'removed') known.add(name);
    for (const name of known) {
      if (seen.has(name)) continue;
      if (tellChanges) this.tellRemoved(name);
      else this.cache.delete(name);
    }
  }

  private async listRuntimes(): Promise<ContainerListing[]> {
    const managed = await this.engine.listManagedContainers();
    if (this.tracked.size === 0) return managed;
    // The `name` filter matches substrings: keep exact names only (`plc1` must not pick up `plc10`).
    const extra = await this.engine.listContainers({ names: [...this.tracked] });
    const byName = new Map(managed.map((c) => [c.name, c]));
    for (const c of extra) if (this.tracked.has(c.name) && !byName.has(c.name)) byName.set(c.name, c);
    return [...byName.values()];
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.tickInFlight = this.tick().finally(() => {
        this.tickInFlight = undefined;
        this.schedule();
      });
    }, this.intervalMs);
    this.timer.unref?.();
  }

  /** One period: list, reconcile the status cache, sample every running runtime at once. */
  private async tick(): Promise<void> {
    this.ticks++;
    let listed: ContainerListing[];
    try {
      listed = await this.listRuntimes();
      this.listOk = true;
    } catch (err) {
      // Unreachable or not answering in time: either way status answers are stale.
      this.listOk = false;
      this.log.warn({ step: 'watch.list_failed', err }, 'could not list runtime containers');
      return;
    }
    await this.enqueue(() => this.resync(true, listed)).catch((err: unknown) =>
      this.log.warn({ step: 'watch.resync_failed', err }, 'could not refresh runtime status'),
    );
    const runningOnes = listed.filter((c) => c.state === 'running').map((c) => ({ id: c.id, name: c.name }));
    if (runningOnes.length === 0) return;
    const samples = await this.sampler.sample(runningOnes);
    for (const s of samples) this.bufferFor(s.name).add(s.timestampSec, s.cpuPercent, s.memoryMb);
  }
}

import type { Logger } from 'pino';
import { linkMachine } from '../../machines/link.machine.js';
import { vplcMachine } from '../../machines/vplc/machine.js';
import { allTopics } from '../../io/cloud/topics/index.js';
import { AgentMetrics, type LinkName, type VplcSample } from '../../io/metrics/prometheus.js';
import type { Supervisor, VplcStatus } from '../vplc/supervisor.js';

/** What the metrics follow: the vPLC supervisor and both links (given as getters: they are built after the metrics). */
interface FollowedLink {
  state(): string;
  onState(listener: (state: string) => void): () => void;
}

export interface MetricsSources {
  supervisor: () => Supervisor;
  links: () => Record<LinkName, FollowedLink>;
  log: Logger;
  now?: () => number;
}

interface Followed {
  phase: string;
  since: number;
  restartCount: number;
}

/**
 * Feeds `AgentMetrics` from the running system: state changes and restarts of each vPLC as they happen, link
 * reconnects, and at each scrape the current states, times in state and budgets left. Built before the engine
 * and the router, which report their calls to it; `follow` starts listening once the supervisor and links exist.
 */
export class MetricsFeed {
  readonly metrics: AgentMetrics;
  private readonly followed = new Map<string, Followed>();
  private readonly now: () => number;
  private readonly stops: Array<() => void> = [];

  constructor(private readonly sources: MetricsSources) {
    this.now = sources.now ?? Date.now;
    const vplcStates = Object.keys(vplcMachine.root.states);
    this.metrics = new AgentMetrics({
      vplcStates,
      topics: allTopics.map((t) => t.name),
      linkStates: Object.keys(linkMachine.root.states),
      vplcs: () => this.samples(),
      links: () => {
        const links = sources.links();
        return { cloud: links.cloud.state(), sidecar: links.sidecar.state() };
      },
      now: this.now,
    });
  }

  /** Starts following the supervisor's changes and the links' states. */
  follow(): void {
    const supervisor = this.sources.supervisor();
    for (const status of supervisor.list()) this.observe(status);
    this.stops.push(supervisor.onChange((status) => this.observe(status)));
    for (const [name, link] of Object.entries(this.sources.links()) as Array<[LinkName, FollowedLink]>) {
      let wasOnline = link.state() === 'online';
      this.stops.push(
        link.onState((state) => {
          if (state === 'online' && wasOnline) this.metrics.reconnected(name);
          if (state === 'online') wasOnline = true;
        }),
      );
    }
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  private observe(status: VplcStatus): void {
    const at = this.now();
    const known = this.followed.get(status.name);
    if (status.phase === 'deleted') {
      if (known) this.metrics.vplcLeftState(known.phase, (at - known.since) / 1000);
      this.followed.delete(status.name);
      this.metrics.vplcGone(status.name);
      return;
    }
    if (!known) {
      this.followed.set(status.name, { phase: status.phase, since: at, restartCount: status.restartCount });
      this.metrics.vplcRestarted(status.name, 0);
      return;
    }
    if (status.restartCount > known.restartCount) {
      this.metrics.vplcRestarted(status.name, status.restartCount - known.restartCount);
    }
    known.restartCount = status.restartCount;
    if (status.phase !== known.phase) {
      this.metrics.vplcLeftState(known.phase, (at - known.since) / 1000);
      known.phase = status.phase;
      known.since = at;
    }
  }

  private samples(): VplcSample[] {
    const supervisor = this.sources.supervisor();
    return [...this.followed.entries()].flatMap(([name, f]) => {
      const left = supervisor.restartBudgetLeft(name);
      return left === undefined ? [] : [{ name, state: f.phase, since: f.since, restartBudgetLeft: left }];
    });
  }
}

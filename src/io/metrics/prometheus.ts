import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The agent's Prometheus metrics (served by `metricsServer.ts` at `/metrics`), kept in a registry of their own so
 * that nothing else in the process adds to them. The running system feeds the events (a request answered, a
 * Docker call, a state left) and is asked for the current picture (vPLCs per state, time in state, budgets left)
 * when a scrape comes in. Names and labels: docs/protocol.md#metrics.
 *
 * Labels are bounded whatever the outside sends: topics outside `topics` count as `other`, Docker calls are a fixed
 * set of kinds, states come from the machine definition, and `vplc` names are the supervised vPLCs (at most
 * `--max-vplcs`), whose series are removed when the vPLC is deleted.
 */

/** One supervised vPLC as a scrape sees it. */
export interface VplcSample {
  name: string;
  /** Top-level state, one of `AgentMetricsOptions.vplcStates`. */
  state: string;
  /** Epoch ms since which it is in that state. */
  since: number;
  restartBudgetLeft: number;
}

export type LinkName = 'cloud' | 'sidecar';

export interface AgentMetricsOptions {
  /** Every top-level state of the vPLC machine: each is reported, also at 0. */
  vplcStates: readonly string[];
  /** The topics the agent answers; anything else is counted as `other`. */
  topics: readonly string[];
  /** The link machine's states. */
  linkStates: readonly string[];
  vplcs: () => VplcSample[];
  links: () => Record<LinkName, string>;
  now?: () => number;
}

/** Seconds: from a status poll (milliseconds) to a create that pulls an image (minutes). */
const REQUEST_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const DOCKER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const STATE_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600, 21_600, 86_400];
/** Heartbeats are 5 s apart; lateness is how much later than that one went out. */
const LATENESS_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly topics: ReadonlySet<string>;
  private readonly requests: Counter<'topic'>;
  private readonly requestErrors: Counter<'topic'>;
  private readonly requestSeconds: Histogram<'topic'>;
  private readonly dockerSeconds: Histogram<'call'>;
  private readonly dockerErrors: Counter<'call' | 'kind'>;
  private readonly heartbeatLateness: Histogram;
  private readonly reconnects: Counter<'link'>;
  private readonly restarts: Counter<'vplc'>;
  private readonly stateSeconds: Histogram<'state'>;

  constructor(opts: AgentMetricsOptions) {
    const registers = [this.registry];
    const now = opts.now ?? Date.now;
    this.topics = new Set(opts.topics);
    // Process memory, CPU, event-loop lag, heap and GC as prom-client measures them. Its three gauges of active
    // handles, requests and resources end in _total, which `promtool check metrics` refuses for a gauge (the
    // suffix promises a counter), so they are left out.
    collectDefaultMetrics({ register: this.registry });
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      this.registry.removeSingleMetric(name);

    new Gauge({
      name: 'orchestrator_vplcs',
      help: 'Supervised vPLCs in each top-level state of their lifecycle.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map(opts.vplcStates.map((s) => [s, 0]));
        for (const v of opts.vplcs()) counts.set(v.state, (counts.get(v.state) ?? 0) + 1);
        this.reset();
        for (const [state, count] of counts) this.set({ state }, count);
      },
    });
    new Gauge({
      name: 'orchestrator_vplc_state_seconds',
      help: 'Seconds each vPLC has been in its current top-level state.',
      labelNames: ['vplc', 'state'],
      registers,
      collect() {
        this.reset();
        const at = now();
        for (const v of opts.vplcs()) this.set({ vplc: v.name, state: v.state }, Math.max(0, (at - v.since) / 1000));
      },
    });
    new Gauge({
      name: 'orchestrator_vplc_restart_budget_remaining',
      help: 'Crashes each vPLC may still have inside the restart-budget window before it goes to failed.',
      labelNames: ['vplc'],
      registers,
      collect() {
        this.reset();
        for (const v of opts.vplcs()) this.set({ vplc: v.name }, v.restartBudgetLeft);
      },
    });
    this.restarts = new Counter({
      name: 'orchestrator_vplc_restarts_total',
      help: 'Watchdog restarts of each vPLC since the agent started.',
      labelNames: ['vplc'],
      registers,
    });
    this.stateSeconds = new Histogram({
      name: 'orchestrator_vplc_state_duration_seconds',
      help: 'How long vPLCs stayed in a top-level state, observed when they leave it.',
      labelNames: ['state'],
      buckets: STATE_BUCKETS,
      registers,
    });

    this.requests = new Counter({
      name: 'orchestrator_cloud_requests_total',
      help: 'Requests from the cloud answered, per topic (unknown topics as other).',
      labelNames: ['topic'],
      registers,
    });
    this.requestErrors = new Counter({
      name: 'orchestrator_cloud_request_errors_total',
      help: 'Requests from the cloud answered with status error, per topic.',
      labelNames: ['topic'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'orchestrator_cloud_request_duration_seconds',
      help: 'Time from a request to its reply, per topic.',
      labelNames: ['topic'],
      buckets: REQUEST_BUCKETS,
      registers,
    });

    this.dockerSeconds = new Histogram({
      name: 'orchestrator_docker_call_duration_seconds',
      help: 'Latency of Docker engine calls, per kind of call.',
      labelNames: ['call'],
      buckets: DOCKER_BUCKETS,
      registers,
    });
    this.dockerErrors = new Counter({
      name: 'orchestrator_docker_call_errors_total',
      help: 'Docker engine calls that failed, per kind of call and kind of error.',
      labelNames: ['call', 'kind'],
      registers,
    });

    this.heartbeatLateness = new Histogram({
      name: 'orchestrator_heartbeat_lateness_seconds',
      help: 'How much later than its schedule each heartbeat to the cloud was sent.',
      buckets: LATENESS_BUCKETS,
      registers,
    });

    new Gauge({
      name: 'orchestrator_link_state',
      help: 'State of the cloud and sidecar links: 1 for the state each is in, 0 for the others.',
      labelNames: ['link', 'state'],
      registers,
      collect() {
        const states = opts.links();
        for (const link of Object.keys(states) as LinkName[]) {
          for (const state of opts.linkStates) this.set({ link, state }, states[link] === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'orchestrator_link_up',
      help: '1 while the link is online.',
      labelNames: ['link'],
      registers,
      collect() {
        const states = opts.links();
        for (const link of Object.keys(states) as LinkName[]) this.set({ link }, states[link] === 'online' ? 1 : 0);
      },
    });
    this.reconnects = new Counter({
      name: 'orchestrator_link_reconnects_total',
      help: 'Times a link came back online after it was lost.',
      labelNames: ['link'],
      registers,
    });
    // Zero series from the start, so a rate() over the first reconnect is not lost.
    for (const link of ['cloud', 'sidecar'] as const) this.reconnects.inc({ link }, 0);
  }

  /** A request was answered: `error` when its reply had status error. */
  request(topic: string, seconds: number, error: boolean): void {
    const label = this.topics.has(topic) ? topic : 'other';
    this.requests.inc({ topic: label });
    if (error) this.requestErrors.inc({ topic: label });
    else this.requestErrors.inc({ topic: label }, 0);
    this.requestSeconds.observe({ topic: label }, seconds);
  }

  /** One Docker call ended; `errorKind` is the engine error's code (not_found, conflict, …) when it failed. */
  dockerCall(call: string, seconds: number, errorKind: string | null): void {
    this.dockerSeconds.observe({ call }, seconds);
    if (errorKind !== null) this.dockerErrors.inc({ call, kind: errorKind });
  }

  heartbeatSent(latenessSeconds: number): void {
    this.heartbeatLateness.observe(Math.max(0, latenessSeconds));
  }

  reconnected(link: LinkName): void {
    this.reconnects.inc({ link });
  }

  vplcRestarted(vplc: string, times = 1): void {
    this.restarts.inc({ vplc }, times);
  }

  vplcLeftState(state: string, seconds: number): void {
    this.stateSeconds.observe({ state }, Math.max(0, seconds));
  }

  /** A vPLC was deleted: its own series go (the per-vPLC gauges follow by themselves at the next scrape). */
  vplcGone(vplc: string): void {
    this.restarts.remove({ vplc });
  }

  /** The text a scrape gets, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

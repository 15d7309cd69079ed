import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { HostMetrics } from './hostMetrics.js';
import type { UsageBuffer } from './usageBuffer.js';

export interface OrchestratorUsageSamplerOptions {
  metrics: HostMetrics;
  buffer: UsageBuffer;
  log: Logger;
  /** Wall clock in milliseconds for sample timestamps. Default `Date.now`. */
  now?: () => number;
}

/**
 * Feeds the host's own usage buffer (`get_consumption_orchestrator`) every 5 s on its own schedule. The old agent
 * sampled inside the heartbeat loop, so nothing was recorded while the cloud link was down; this runs from start
 * to stop regardless of the connection.
 */
export class OrchestratorUsageSampler {
  private readonly metrics: HostMetrics;
  private readonly buffer: UsageBuffer;
  private readonly log: Logger;
  private readonly now: () => number;
  private task: ScheduledTask | null = null;
  private failing = false;

  constructor(opts: OrchestratorUsageSamplerOptions) {
    this.metrics = opts.metrics;
    this.buffer = opts.buffer;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.task !== null) return;
    // noOverlap: a sample stuck on a slow /proc read is skipped over, never stacked up.
    this.task = cron.schedule('*/5 * * * * *', () => this.tick(), {
      name: 'orchestrator-usage',
      noOverlap: true,
      logger: {
        info: (message) => this.log.debug({ step: 'usage.cron' }, message),
        warn: (message) => this.log.debug({ step: 'usage.cron' }, message),
        error: (message) => this.log.warn({ step: 'usage.cron', err: message }, 'usage sampler schedule error'),
        debug: () => {},
      },
    });
  }

  stop(): void {
    const task = this.task;
    this.task = null;
    if (task !== null) void task.destroy();
  }

  /** Take one sample now; what the schedule runs. Never rejects. */
  async tick(): Promise<void> {
    try {
      const sample = await this.metrics.sample();
      this.buffer.add(Math.floor(this.now() / 1000), sample.cpuPercent, sample.memoryUsedMb);
      if (this.failing) {
        this.failing = false;
        this.log.info({ step: 'usage.recovered' }, 'host usage sampling works again');
      }
    } catch (err) {
      // Warn once per outage, not every 5 s.
      if (!this.failing) {
        this.failing = true;
        this.log.warn(
          { step: 'usage.failed', err },
          'cannot sample host usage; get_consumption_orchestrator will have gaps',
        );
      } else {
        this.log.debug({ step: 'usage.failed', err }, 'host usage sample failed again');
      }
    }
  }
}

import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import type { DockerEngine } from './engine.js';

/** One CPU/memory sample of one container. */
export interface UsageSample {
  id: string;
  name: string;
  /** Unix seconds. */
  timestampSec: number;
  /** Docker-style percentage: 100 per fully used core, may exceed 100. */
  cpuPercent: number;
  /** Memory in MiB without the reclaimable page cache, as `docker stats` shows it. */
  memoryMb: number;
}

interface CpuPoint {
  total: number;
  system: number;
}

/**
 * Memory as `docker stats` computes it: usage minus inactive file cache (cgroup v1 `total_inactive_file`,
 * cgroup v2 `inactive_file`). The old agent used raw usage, page cache included, which does not match the host.
 */
export function memoryWithoutCache(stats: Dockerode.ContainerStats): number {
  const mem = stats.memory_stats;
  const usage = mem?.usage ?? 0;
  const detail = (mem?.stats ?? {}) as Record<string, number | undefined>;
  const inactive = detail.total_inactive_file ?? detail.inactive_file ?? 0;
  return inactive < usage ? usage - inactive : usage;
}

/**
 * Samples every given container CONCURRENTLY with `one-shot` stats (measured on 10 containers: ~1 s in parallel,
 * ~10 s one after another, as the old agent did). `one-shot` leaves `precpu_stats` empty, so CPU % comes from our own
 * deltas between two samples; a container's first sample only primes its delta and is not reported.
 */
export class StatsSampler {
  private readonly engine: DockerEngine;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly previous = new Map<string, CpuPoint>();

  constructor(options: { engine: DockerEngine; log: Logger; timeoutMs?: number }) {
    this.engine = options.engine;
    this.log = options.log;
    this.timeoutMs = options.timeoutMs ?? 4_000;
  }

  /** One round over `containers`; containers whose stats failed or that were only primed are left out. */
  async sample(containers: ReadonlyArray<{ id: string; name: string }>): Promise<UsageSample[]> {
    const results = await Promise.all(
      containers.map(async (c) => {
        try {
          return this.toSample(c, await this.engine.statsOnce(c.id, this.timeoutMs));
        } catch (err) {
          this.log.debug({ step: 'stats.failed', container: c.name, err }, 'could not read container stats');
          return undefined;
        }
      }),
    );
    const live = new Set(containers.map((c) => c.id));
    for (const id of this.previous.keys()) if (!live.has(id)) this.previous.delete(id);
    return results.filter((s): s is UsageSample => s !== undefined);
  }

  /** Forget a container's CPU baseline (after it stopped: its counters restart from zero). */
  forget(id: string): void {
    this.previous.delete(id);
  }

  private toSample(c: { id: string; name: string }, stats: Dockerode.ContainerStats): UsageSample | undefined {
    const cpu = stats.cpu_stats;
    const total = cpu?.cpu_usage?.total_usage;
    const system = cpu?.system_cpu_usage;
    // A stopped container answers with zeroed counters: nothing to report.
    if (typeof total !== 'number' || typeof system !== 'number' || system === 0) return undefined;
    const point = { total, system };
    const before = this.previous.get(c.id);
    // The host counter moves in jiffies: two reads a few ms apart can see the same value. Keep the older
    // baseline then, so the next round measures over the whole interval instead of losing it.
    if (before && system === before.system && total >= before.total) return undefined;
    this.previous.set(c.id, point);
    if (!before || total < before.total || system < before.system) return undefined;
    const cores = cpu.online_cpus || cpu.cpu_usage.percpu_usage?.length || 1;
    const cpuPercent = ((total - before.total) / (system - before.system)) * cores * 100;
    const read = Date.parse(stats.read);
    return {
      id: c.id,
      name: c.name,
      timestampSec: Math.floor((Number.isNaN(read) || read <= 0 ? Date.now() : read) / 1000),
      cpuPercent,
      memoryMb: memoryWithoutCache(stats) / (1024 * 1024),
    };
  }
}

import { readFile, statfs } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/**
 * Host metrics for the heartbeat and `get_consumption_orchestrator`, with the old agent's psutil semantics as seen
 * from inside the agent container (docs/protocol.md#host-metrics). Only `fs.promises`, so nothing here blocks the event
 * loop; network file systems are flagged `nodev` by the kernel and never reach `statfs`.
 */

export interface HostSample {
  /** Whole-host CPU busy percent since the previous sample, 0-100, one decimal. */
  cpuPercent: number;
  memoryUsedGiB: number;
  memoryTotalGiB: number;
  diskUsedGiB: number;
  diskTotalGiB: number;
  /** Seconds since this agent started measuring (agent uptime, not host uptime). */
  uptimeSeconds: number;
  /** Same memory as `memoryUsedGiB`, in whole MB (the old agent sampled GiB with one decimal: 100 MB steps). */
  memoryUsedMb: number;
}

export interface StaticHostInfo {
  /** Total RAM in MB, truncated. */
  memoryMb: number;
  cpuCount: number;
  /** `Linux <kernel release>`, as the old agent's `platform.system() + " " + platform.release()`. */
  os: string;
  kernel: string;
  /** Total size of the counted filesystems in GB (GiB, truncated), as the heartbeat's `disk_total`. */
  diskGb: number;
}

export interface HostMetricsOptions {
  /** Root of the proc file system; tests point it at fake files. Default `/proc`. */
  procRoot?: string;
  /** Monotonic clock in milliseconds for uptime and CPU intervals. Default `performance.now`. */
  now?: () => number;
}

export class HostMetricsError extends Error {
  override readonly name = 'HostMetricsError';
}

interface CpuTimes {
  total: number;
  busy: number;
}

interface Partition {
  device: string;
  mountPoint: string;
  fsType: string;
}

// The old agent's filter on psutil's partitions for its disk figures: pseudo and layered file systems are not disks.
const SKIPPED_FS_TYPES = new Set([
  'tmpfs',
  'devtmpfs',
  'overlay',
  'squashfs',
  'ramfs',
  'proc',
  'sysfs',
  'cgroup',
  'cgroup2',
  'debugfs',
  'tracefs',
  'pstore',
  'autofs',
  'devpts',
  'mqueue',
  'hugetlbfs',
  'fusectl',
  'none',
]);

/** Two samples closer than this reuse the last CPU figure instead of measuring over a few milliseconds: the
 *  heartbeat and the usage sampler both ask every 5 s and would otherwise shorten each other's interval. */
const MIN_CPU_INTERVAL_MS = 1000;

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** /proc/*mounts escapes space, tab, newline and backslash as octal. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

export function parseCpuTimes(stat: string): CpuTimes {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) throw new HostMetricsError('/proc/stat has no aggregate "cpu" line');
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // guest and guest_nice are already counted in user and nice (psutil leaves them out of the total).
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { total, busy: total - idle - iowait };
}

export function countCpus(stat: string): number {
  return stat.split('\n').filter((l) => /^cpu\d+\s/.test(l)).length;
}

/** psutil `virtual_memory()`: used = total - free - buffers - cached, where cached includes SReclaimable. */
export function parseMemInfo(meminfo: string): { totalBytes: number; usedBytes: number } {
  const kb = new Map<string, number>();
  for (const line of meminfo.split('\n')) {
    const match = /^([\w()]+):\s+(\d+)/.exec(line);
    if (match !== null) kb.set(match[1]!, Number(match[2]) * 1024);
  }
  const total = kb.get('MemTotal');
  if (total === undefined) throw new HostMetricsError('/proc/meminfo has no MemTotal line');
  const free = kb.get('MemFree') ?? 0;
  const buffers = kb.get('Buffers') ?? 0;
  const cached = (kb.get('Cached') ?? 0) + (kb.get('SReclaimable') ?? 0);
  let used = total - free - buffers - cached;
  if (used < 0) used = total - free;
  return { totalBytes: total, usedBytes: used };
}

export class HostMetrics {
  private readonly procRoot: string;
  private readonly now: () => number;
  private readonly startedAt: number;
  private lastCpu: CpuTimes | null = null;
  private lastCpuAt = 0;
  private lastCpuPercent = 0;
  private memoryTotalBytes = 0;
  private diskTotalBytes = 0;
  private info: StaticHostInfo | null = null;

  constructor(opts: HostMetricsOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.now = opts.now ?? (() => performance.now());
    this.startedAt = this.now();
  }

  /** Prime the CPU counters and compute the totals and static info, once for the process lifetime. */
  async start(): Promise<void> {
    const [stat, meminfo, kernel, disk] = await Promise.all([
      this.read('stat'),
      this.read('meminfo'),
      this.kernelRelease(),
      this.diskUsage(),
    ]);
    this.lastCpu = parseCpuTimes(stat);
    this.lastCpuAt = this.now();
    this.lastCpuPercent = 0;
    this.memoryTotalBytes = parseMemInfo(meminfo).totalBytes;
    this.diskTotalBytes = disk.totalBytes;
    this.info = {
      memoryMb: Math.trunc(this.memoryTotalBytes / MIB),
      cpuCount: countCpus(stat),
      os: `Linux ${kernel}`,
      kernel,
      diskGb: Math.trunc(this.diskTotalBytes / GIB),
    };
  }

  async sample(): Promise<HostSample> {
    if (this.info === null) await this.start();
    const [stat, meminfo, disk] = await Promise.all([this.read('stat'), this.read('meminfo'), this.diskUsage()]);
    const memory = parseMemInfo(meminfo);
    return {
      cpuPercent: this.cpuPercent(parseCpuTimes(stat)),
      memoryUsedGiB: round1(memory.usedBytes / GIB),
      memoryTotalGiB: round1(this.memoryTotalBytes / GIB),
      diskUsedGiB: round1(disk.usedBytes / GIB),
      diskTotalGiB: round1(this.diskTotalBytes / GIB),
      uptimeSeconds: Math.max(0, Math.floor((this.now() - this.startedAt) / 1000)),
      memoryUsedMb: Math.round(memory.usedBytes / MIB),
    };
  }

  staticInfo(): StaticHostInfo {
    if (this.info === null) throw new HostMetricsError('HostMetrics.staticInfo() called before start()');
    return { ...this.info };
  }

  private cpuPercent(current: CpuTimes): number {
    const at = this.now();
    const previous = this.lastCpu;
    if (previous !== null && at - this.lastCpuAt < MIN_CPU_INTERVAL_MS) return this.lastCpuPercent;
    this.lastCpu = current;
    this.lastCpuAt = at;
    if (previous === null) return this.lastCpuPercent;
    const totalDelta = current.total - previous.total;
    const busyDelta = current.busy - previous.busy;
    this.lastCpuPercent = totalDelta <= 0 || busyDelta <= 0 ? 0 : Math.min(100, round1((busyDelta / totalDelta) * 100));
    return this.lastCpuPercent;
  }

  private async read(name: string): Promise<string> {
    const path = join(this.procRoot, name);
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new HostMetricsError(`cannot read ${path} (${codeOf(err)})`);
    }
  }

  private async kernelRelease(): Promise<string> {
    try {
      return (await readFile(join(this.procRoot, 'sys/kernel/osrelease'), 'utf8')).trim();
    } catch {
      return release();
    }
  }

  /** Disk filesystems as psutil `disk_partitions(all=False)` sees them, minus the old agent's skip list. */
  private async partitions(): Promise<Partition[]> {
    const mounts = await this.read('self/mounts');
    let diskTypes: Set<string> | null = null;
    try {
      const filesystems = await readFile(join(this.procRoot, 'filesystems'), 'utf8');
      diskTypes = new Set();
      for (const line of filesystems.split('\n')) {
        const [flag, type] = line.split('\t');
        if (type === undefined) continue;
        // psutil counts every file system the kernel does not flag nodev, and zfs despite its flag.
        if (flag === '' || type.trim() === 'zfs') diskTypes.add(type.trim());
      }
    } catch {
      // Without the kernel's list the skip list alone decides.
    }
    const seen = new Set<string>();
    const result: Partition[] = [];
    for (const line of mounts.split('\n')) {
      const fields = line.split(' ');
      if (fields.length < 3) continue;
      const device = unescapeMountField(fields[0]!);
      const mountPoint = unescapeMountField(fields[1]!);
      const fsType = fields[2]!;
      if (device === '' || device === 'none') continue;
      if (diskTypes !== null && !diskTypes.has(fsType)) continue;
      if (SKIPPED_FS_TYPES.has(fsType.toLowerCase())) continue;
      if (seen.has(device)) continue;
      seen.add(device);
      result.push({ device, mountPoint, fsType });
    }
    return result;
  }

  private async diskUsage(): Promise<{ usedBytes: number; totalBytes: number }> {
    const parts = await this.partitions();
    const stats = await Promise.all(
      parts.map((p) =>
        statfs(p.mountPoint).then(
          (s) => s,
          () => null, // psutil skips partitions whose statvfs fails (stale or inaccessible mounts)
        ),
      ),
    );
    let usedBytes = 0;
    let totalBytes = 0;
    for (const s of stats) {
      if (s === null) continue;
      totalBytes += s.blocks * s.bsize;
      usedBytes += (s.blocks - s.bfree) * s.bsize;
    }
    return { usedBytes, totalBytes };
  }
}

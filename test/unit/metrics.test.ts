import { mkdir, mkdtemp, rm, statfs, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HostMetrics, HostMetricsError } from '../../src/io/metrics/hostMetrics.js';

const GIB = 1024 ** 3;

let root: string;
let proc: string;
let spaced: string;
let clock = 0;
const now = () => clock;

function stat(user: number, system: number, idle: number, iowait: number, guest = 0): string {
  const cpu = `cpu  ${user} 0 ${system} ${idle} ${iowait} 0 0 0 ${guest} ${guest}`;
  const perCpu = [0, 1, 2, 3].map((i) => `cpu${i} 1 0 1 1 0 0 0 0 0 0`);
  return [cpu, ...perCpu, 'intr 12345 0 0', 'ctxt 999', 'btime 1767225600', 'processes 42', ''].join('\n');
}

function meminfo(kb: { total: number; free: number; buffers: number; cached: number; sreclaimable: number }): string {
  return [
    `MemTotal:       ${kb.total} kB`,
    `MemFree:        ${kb.free} kB`,
    `MemAvailable:   ${kb.free + kb.cached} kB`,
    `Buffers:        ${kb.buffers} kB`,
    `Cached:         ${kb.cached} kB`,
    'SwapCached:            0 kB',
    `SReclaimable:   ${kb.sreclaimable} kB`,
    'HugePages_Total:       0',
    '',
  ].join('\n');
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'metrics-test-'));
  spaced = join(root, 'with space');
  await mkdir(spaced);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

beforeEach(async () => {
  clock = 1000;
  proc = await mkdtemp(join(root, 'proc-'));
  await mkdir(join(proc, 'self'));
  await mkdir(join(proc, 'sys/kernel'), { recursive: true });
  await writeFile(join(proc, 'stat'), stat(100, 100, 700, 100));
  await writeFile(
    join(proc, 'meminfo'),
    meminfo({ total: 16_384_000, free: 8_192_000, buffers: 102_400, cached: 1_024_000, sreclaimable: 204_800 }),
  );
  await writeFile(
    join(proc, 'filesystems'),
    'nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tnfs\n\text4\n\tsquashfs\n',
  );
  // Two real disks (the same real file system mounted twice under different device names), and every kind of
  // entry the disk filter must skip.
  const mountPoint = spaced.replaceAll(' ', '\\040');
  await writeFile(
    join(proc, 'self/mounts'),
    [
      'overlay / overlay rw,relatime,lowerdir=/a:/b 0 0',
      'proc /proc proc rw,nosuid 0 0',
      'tmpfs /dev tmpfs rw,nosuid 0 0',
      '/dev/vda1 / ext4 rw,relatime 0 0',
      '/dev/vda1 /etc/hosts ext4 rw,relatime 0 0',
      `/dev/vdb1 ${mountPoint} ext4 rw,relatime 0 0`,
      '/dev/loop0 / squashfs ro 0 0',
      'none / ext4 rw 0 0',
      'server:/export / nfs rw 0 0',
      '/dev/vdc1 /does/not/exist ext4 rw 0 0',
      '',
    ].join('\n'),
  );
  await writeFile(join(proc, 'sys/kernel/osrelease'), '6.8.0-45-generic\n');
});

async function rootDisk(): Promise<{ totalBytes: number; usedBytes: number }> {
  const s = await statfs('/');
  return { totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize };
}

describe('HostMetrics against fake /proc files', () => {
  it('computes the static host info once at start', async () => {
    const metrics = new HostMetrics({ procRoot: proc, now });
    await metrics.start();
    const disk = await rootDisk();
    expect(metrics.staticInfo()).toEqual({
      memoryMb: 16_000,
      cpuCount: 4,
      os: 'Linux 6.8.0-45-generic',
      kernel: '6.8.0-45-generic',
      diskGb: Math.trunc((2 * disk.totalBytes) / GIB),
    });
  });

  it('measures CPU busy time without idle, iowait or the guest times already inside user', async () => {
    const metrics = new HostMetrics({ procRoot: proc, now });
    await metrics.start();
    // +300 user, +100 system, +400 idle, +200 iowait, guest +50 each (already inside user): 400 of 1000 busy.
    await writeFile(join(proc, 'stat'), stat(400, 200, 1100, 300, 50));
    clock += 5000;
    expect((await metrics.sample()).cpuPercent).toBe(40);
    await writeFile(join(proc, 'stat'), stat(400 + 1, 200, 1100 + 2, 300));
    clock += 5000;
    expect((await metrics.sample()).cpuPercent).toBe(33.3);
  });

  it('reports 0 when the counters did not move and never more than 100', async () => {
    const metrics = new HostMetrics({ procRoot: proc, now });
    await metrics.start();
    clock += 5000;
    expect((await metrics.sample()).cpuPercent).toBe(0);
    await writeFile(join(proc, 'stat'), stat(1100, 100, 700, 100));
    clock += 5000;
    expect((await metrics.sample()).cpuPercent).toBe(100);
  });

  it('reuses the last CPU figure for a second sample within a second instead of measuring a sliver', async () => {
    const metrics = new HostMetrics({ procRoot: proc, now });
    await metrics.start();
    await writeFile(join(proc, 'stat'), stat(400, 200, 1100, 300));
    clock += 5000;
    expect((await metrics.sample()).cpuPercent).toBe(40);
    await writeFile(join(proc, 'stat'), stat(400, 200, 2100, 300));
    clock += 200;
    expect((await metrics.sample()).cpuPercent).toBe(40);
    clock += 4800;
    // Measured against the sample 5 s ago: +1000 idle only.
    expect((await metrics.sample()).cpuPercent).toBe(0);
  });

  it('computes memory as psutil: total - free - buffers - cached (with SReclaimable)', async () => {
    const metrics = new HostMetrics({ procRoot: proc, now });
    await metrics.start();
    const sample = await metrics.sample();
    // used = 16,384,000 - 8,192,000 - 102,400 - (1,024,000 + 204,800) = 6,860,800 kB
    expect(sample.memoryUsedMb).toBe(6700);
    expect(sample.memoryUsedGiB).toBe(6.5);
    expect(sample.memoryTotalGiB).toBe(15.6);
  });

  it('falls back to total - free when caches exceed the rest, as psutil does', async () => {
    await writeFile(
      join(proc, 'meminfo'),
      meminfo({ total: 1_048_576, free: 524_288, buffers: 524_288, cached: 524_288, sreclaimable: 0 }),
    );
    const metrics = new HostMetrics({ procRoot: proc, now });
    await metrics.start();
    expect((await metrics.sample()).memoryUsedMb).toBe(512);
  });

  it('keeps the totals of the start for the process lifetime', async () => {
    const metrics = new HostMetrics({ procRoot: proc, now });
    await metrics.start();
    await writeFile(
      join(proc, 'meminfo'),
      meminfo({ total: 32_768_000, free: 8_192_000, buffers: 0, cached: 0, sreclaimable: 0 }),
    );
    const sample = await metrics.sample();
    expect(sample.memoryTotalGiB).toBe(15.6);
    expect(metrics.staticInfo().memoryMb).toBe(16_000);
  });

  it('sums real disks once each and skips pseudo, layered, network, duplicate and unreachable mounts', async () => {
    const metrics = new HostMetrics({ procRoot: proc, now });
    await metrics.start();
    const sample = await metrics.sample();
    const disk = await rootDisk();
    expect(sample.diskTotalGiB).toBe(Math.round(((2 * disk.totalBytes) / GIB) * 10) / 10);
    expect(Math.abs(sample.diskUsedGiB - (2 * disk.usedBytes) / GIB)).toBeLessThanOrEqual(0.11);
    expect(sample.diskUsedGiB).toBeGreaterThan(0);
  });

  it('counts agent uptime in whole seconds from construction', async () => {
    const metrics = new HostMetrics({ procRoot: proc, now });
    await metrics.start();
    clock += 61_500;
    expect((await metrics.sample()).uptimeSeconds).toBe(61);
  });

  it('starts itself on the first sample', async () => {
    const metrics = new HostMetrics({ procRoot: proc, now });
    const sample = await metrics.sample();
    expect(sample.cpuPercent).toBe(0);
    expect(metrics.staticInfo().cpuCount).toBe(4);
  });

  it('refuses static info before start', () => {
    expect(() => new HostMetrics({ procRoot: proc, now }).staticInfo()).toThrow(HostMetricsError);
  });

  it('rejects with the file it could not read', async () => {
    await rm(join(proc, 'stat'));
    const err = await new HostMetrics({ procRoot: proc, now }).start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostMetricsError);
    expect((err as Error).message).toBe(`cannot read ${join(proc, 'stat')} (ENOENT)`);
  });

  it('falls back to the running kernel when osrelease is missing', async () => {
    await rm(join(proc, 'sys/kernel/osrelease'));
    const metrics = new HostMetrics({ procRoot: proc, now });
    await metrics.start();
    expect(metrics.staticInfo().kernel).toBe(release());
  });
});

describe('HostMetrics on this machine', () => {
  it('reads the real /proc', async () => {
    const metrics = new HostMetrics();
    await metrics.start();
    const info = metrics.staticInfo();
    expect(info.cpuCount).toBe(cpus().length);
    expect(info.memoryMb).toBe(Math.trunc(totalmem() / 1024 ** 2));
    expect(info.kernel).toBe(release());
    expect(info.diskGb).toBeGreaterThan(0);
    const sample = await metrics.sample();
    expect(sample.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(sample.cpuPercent).toBeLessThanOrEqual(100);
    expect(sample.memoryUsedMb).toBeGreaterThan(0);
    expect(sample.memoryUsedGiB).toBeLessThanOrEqual(sample.memoryTotalGiB);
    expect(sample.diskUsedGiB).toBeLessThanOrEqual(sample.diskTotalGiB);
  });
});

import { readFile } from 'node:fs/promises';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { StatsSampler } from '../../src/io/docker/stats.js';
import { removeTestObjects, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';

/**
 * Proves the sampler reads every runtime in one concurrent round, and prints how the ways of sampling compare on
 * this machine (sequential one-shot, concurrent one-shot, one stream per container, cgroup files). The numbers are
 * reported, never asserted: timings on a shared CI machine are noise.
 */
const engines = await testEngines();
const log = pino({ level: 'silent' });
const COUNT = 10;

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: Math.round(performance.now() - start), value };
}

it('has at least one Docker engine to test against (or says why not)', () => {
  if (engines.length === 0) console.warn('[docker] no engine reachable: stats sampling tests skipped');
  expect(Array.isArray(engines)).toBe(true);
});

describe.each(engines)('Stats sampling on Docker $label (API $apiVersion)', (target) => {
  const docker = new Docker({ socketPath: target.socketPath });
  const prefix = `t5-s-${target.label.replace('.', '')}`;
  const containers: Array<{ id: string; name: string }> = [];
  let engine: DockerEngine;

  beforeAll(async () => {
    await removeTestObjects(target.socketPath, prefix, []);
    const image = await ensureStandinImage(target.socketPath);
    engine = new DockerEngine({ address: { socketPath: target.socketPath }, log, selfContainer: null });
    for (let i = 0; i < COUNT; i++) {
      const name = `${prefix}-${i}`;
      const c = await docker.createContainer({ name, Image: image, HostConfig: { NetworkMode: 'none' } });
      await c.start();
      containers.push({ id: c.id, name });
    }
  }, 300_000);

  afterAll(async () => {
    await removeTestObjects(target.socketPath, prefix, []);
  }, 120_000);

  it(`samples ${COUNT} containers in one concurrent round with CPU from its own deltas and memory without cache`, async () => {
    const sampler = new StatsSampler({ engine, log });
    const priming = await timed(() => sampler.sample(containers));
    expect(priming.value).toEqual([]); // the first round only primes the CPU deltas
    // The agent samples every 5 s; give the host CPU counter (jiffies) time to move, as it always has there.
    await new Promise((resolve) => setTimeout(resolve, 250));
    const round = await timed(() => sampler.sample(containers));
    expect(round.value.map((s) => s.name).sort()).toEqual(containers.map((c) => c.name).sort());
    for (const s of round.value) {
      expect(s.memoryMb).toBeGreaterThan(0);
      expect(s.cpuPercent).toBeGreaterThanOrEqual(0);
      expect(Math.abs(s.timestampSec - Date.now() / 1000)).toBeLessThan(30);
    }

    const sequential = await timed(async () => {
      for (const c of containers) await engine.statsOnce(c.id);
    });

    const streams = await timed(
      () =>
        new Promise<void>((resolve, reject) => {
          const seen = new Set<string>();
          const opened: NodeJS.ReadableStream[] = [];
          for (const c of containers) {
            docker.getContainer(c.id).stats({ stream: true }, (err, stream) => {
              if (err || !stream) return reject(err);
              opened.push(stream);
              stream.once('data', () => {
                seen.add(c.id);
                if (seen.size === containers.length) {
                  for (const s of opened) (s as unknown as { destroy(): void }).destroy();
                  resolve();
                }
              });
            });
          }
        }),
    );

    const cgroupRoot = '/sys/fs/cgroup';
    const cgroup = await timed(() =>
      Promise.all(
        containers.map(async (c) => {
          const cpu = await readFile(`${cgroupRoot}/cpuacct/docker/${c.id}/cpuacct.usage`, 'utf8');
          const mem = await readFile(`${cgroupRoot}/memory/docker/${c.id}/memory.stat`, 'utf8');
          return cpu.length + mem.length;
        }),
      ).then(
        () => true,
        () => false,
      ),
    );

    console.log(
      `[stats] Docker ${target.label}, ${COUNT} containers: sequential one-shot ${sequential.ms} ms; ` +
        `concurrent one-shot (StatsSampler) ${round.ms} ms; one stream each, first sample from all ${streams.ms} ms; ` +
        `cgroup v1 files ${cgroup.value ? `${cgroup.ms} ms` : 'not readable'}`,
    );
  }, 120_000);
});

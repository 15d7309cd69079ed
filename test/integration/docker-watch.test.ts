import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainerFact, ContainerWatch } from '../../src/actors/vplc/containerWatch.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { removeTestObjects, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

const engines = await testEngines();
const log = pino({ level: 'silent' });

/** Labels that make a container one of our runtimes, so the label-filtered events stream sees it. */
const RUNTIME_LABELS = { 'edge.autonomy.managed': 'true', 'edge.autonomy.role': 'vplc', 'edge.autonomy.vnics': '[]' };

it('has at least one Docker engine to test against (or says why not)', () => {
  if (engines.length === 0) console.warn('[docker] no engine reachable: ContainerWatch integration tests skipped');
  expect(Array.isArray(engines)).toBe(true);
});

describe.each(engines)('ContainerWatch on Docker $label (API $apiVersion)', (target) => {
  const docker = new Docker({ socketPath: target.socketPath });
  const prefix = `t5-w-${target.label.replace('.', '')}`;
  const facts: Array<{ name: string; fact: ContainerFact }> = [];
  let image: string;
  let watch: ContainerWatch;

  const factsOf = (name: string) => facts.filter((f) => f.name === name).map((f) => f.fact);

  beforeAll(async () => {
    await removeTestObjects(target.socketPath, prefix, []);
    image = await ensureStandinImage(target.socketPath);
    const engine = new DockerEngine({ address: { socketPath: target.socketPath }, log, selfContainer: null });
    watch = new ContainerWatch({ engine, log, sampleIntervalMs: 1000 });
    watch.onFact((name, fact) => {
      if (name.startsWith(prefix)) facts.push({ name, fact });
    });
    await watch.start();
  }, 300_000);

  afterAll(async () => {
    await watch?.stop();
    await removeTestObjects(target.socketPath, prefix, []);
  }, 60_000);

  it('tells started, then died with the exit code when the container is killed from outside, then removed', async () => {
    const name = `${prefix}-kill`;
    const container = await docker.createContainer({
      name,
      Image: image,
      Labels: RUNTIME_LABELS,
      HostConfig: { NetworkMode: 'none' },
    });
    await container.start();
    const started = await waitFor(() => factsOf(name).find((f) => f.type === 'container.started'), {
      timeoutMs: 10_000,
      message: 'a started fact',
    });
    expect(started).toMatchObject({ type: 'container.started', containerId: container.id });
    const observed = watch.observed(name);
    expect(observed).toMatchObject({
      id: container.id,
      running: true,
      status: 'running',
      restartCount: 0,
    });
    expect(observed?.pid).toBeGreaterThan(0);
    expect(watch.engineAvailable()).toBe(true);

    // Usage is sampled while it runs (the first sample only primes the CPU delta).
    const usage = await waitFor(() => ((watch.usage(name)?.size() ?? 0) > 0 ? watch.usage(name) : undefined), {
      timeoutMs: 15_000,
      message: 'a usage sample',
    });
    const series = usage.query(0, Number.MAX_SAFE_INTEGER);
    expect(series.memory[0]?.memory).toBeGreaterThan(0);
    expect(series.cpu[0]?.cpu).toBeGreaterThanOrEqual(0);

    await container.kill();
    const died = await waitFor(() => factsOf(name).find((f) => f.type === 'container.died'), {
      timeoutMs: 10_000,
      message: 'a died fact',
    });
    expect(died).toMatchObject({ type: 'container.died', exitCode: 137, oomKilled: false });
    expect(watch.observed(name)).toMatchObject({ running: false, exitCode: 137 });

    await container.remove();
    await waitFor(() => factsOf(name).find((f) => f.type === 'container.removed'), {
      timeoutMs: 10_000,
      message: 'a removed fact',
    });
    expect(watch.observed(name)).toBeUndefined();
    expect(watch.usage(name)).toBeUndefined();
    // Each lifecycle step was told exactly once, in order, although events and the periodic list both saw them.
    expect(factsOf(name).map((f) => f.type)).toEqual(['container.started', 'container.died', 'container.removed']);
  }, 60_000);

  it('tells removed when a running container is force-removed from outside', async () => {
    const name = `${prefix}-rm`;
    const container = await docker.createContainer({
      name,
      Image: image,
      Labels: RUNTIME_LABELS,
      HostConfig: { NetworkMode: 'none' },
    });
    await container.start();
    await waitFor(() => factsOf(name).find((f) => f.type === 'container.started'), { timeoutMs: 10_000 });
    await container.remove({ force: true });
    await waitFor(() => factsOf(name).find((f) => f.type === 'container.removed'), {
      timeoutMs: 10_000,
      message: 'a removed fact',
    });
    expect(factsOf(name).map((f) => f.type)).toEqual(['container.started', 'container.died', 'container.removed']);
  }, 60_000);

  it('ignores containers that are not ours', async () => {
    const name = `${prefix}-foreign`;
    const container = await docker.createContainer({ name, Image: image, HostConfig: { NetworkMode: 'none' } });
    await container.start();
    await new Promise((r) => setTimeout(r, 2500));
    expect(factsOf(name)).toEqual([]);
    expect(watch.observed(name)).toBeUndefined();
    await container.remove({ force: true });
  }, 30_000);

  it('observes an unlabelled runtime adopted from the old agent once it is tracked', async () => {
    const name = `${prefix}-adopted`;
    const container = await docker.createContainer({ name, Image: image, HostConfig: { NetworkMode: 'none' } });
    await container.start();
    watch.track(name);
    await waitFor(() => watch.observed(name)?.running, { timeoutMs: 10_000, message: 'the adopted runtime observed' });
    await container.kill();
    const died = await waitFor(() => factsOf(name).find((f) => f.type === 'container.died'), {
      timeoutMs: 10_000,
      message: 'a died fact from the periodic list',
    });
    expect(died).toMatchObject({ exitCode: 137 });
    watch.untrack(name);
    await container.remove({ force: true });
  }, 30_000);
});

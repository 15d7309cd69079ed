import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdoptedRuntimes } from '../../src/actors/boot/adoptedRuntimes.js';
import { reconcile } from '../../src/actors/boot/reconcile.js';
import { createNewRuntime } from '../../src/actors/cloud/topics/deviceLifecycle.js';
import { deviceStatus } from '../../src/actors/cloud/topics/deviceStatus.js';
import { LeaseBook } from '../../src/actors/network/leases.js';
import { ContainerWatch } from '../../src/actors/vplc/containerWatch.js';
import { createVplcOps } from '../../src/actors/vplc/ops.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import { validateRequest } from '../../src/io/cloud/validation.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import type { LoadedState } from '../../src/io/store/stateStore.js';
import { ensureVeth, removeTestObjects, removeVeth, testEngines } from '../support/engines.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * `runtime_version` on the real engines, against a real (empty) registry: the tag picks the runtime image on the
 * repository of --runtime-image; a tag that is only local is used, a tag that is nowhere fails the create with the
 * old agent's sentence and leaves nothing in Docker; the version is a label, so it survives restarts, recreates, an
 * agent restart and the adoption of an old agent's runtime. Every object here starts with `i11a`.
 */
const sh = promisify(execFile);
const engines = await testEngines();
const log = pino({ level: 'silent' });

const emptyLoaded = (over: Partial<LoadedState> = {}): LoadedState => ({
  clients: new Map(),
  runtimeVnics: new Map(),
  serialConfigs: new Map(),
  journal: { version: 1, vplcs: new Map() },
  corrupt: [],
  missing: [],
  ...over,
});

it('has at least one Docker engine to test against (or says why not)', () => {
  if (engines.length === 0) console.warn('[docker] no engine reachable: runtime_version tests skipped');
  expect(Array.isArray(engines)).toBe(true);
});

describe.each(engines.map((e, i) => ({ ...e, index: i })))(
  'runtime_version on Docker $label (API $apiVersion)',
  (target) => {
    const tag = `i11a${target.label.replace('.', '')}`;
    const parent = `${tag}p`;
    const net = `10.211.${1 + target.index}`;
    const docker = new Docker({ socketPath: target.socketPath });
    const cli = async (...args: string[]) =>
      (await sh('/usr/bin/docker', ['-H', `unix://${target.socketPath}`, ...args])).stdout.trim();
    let registry: TestRegistry;
    let repository: string;
    let v2Id: string;
    let engine: DockerEngine;
    let watch: ContainerWatch;
    let supervisor: Supervisor;

    const mine = (name: string) => name.startsWith(tag) || name.startsWith(`macvlan_${parent}_`);
    /** Reconciliation looks at the whole engine, which other test runs share: it sees only this file's objects. */
    const narrowed = (real: DockerEngine): DockerEngine =>
      Object.assign(Object.create(real) as DockerEngine, {
        networksByDriver: async (driver: string) => (await real.networksByDriver(driver)).filter((n) => mine(n.name)),
        listManagedContainers: async () => (await real.listManagedContainers()).filter((c) => mine(c.name)),
      });
    const cleanup = () => removeTestObjects(target.socketPath, tag, [tag, `macvlan_${parent}_`]);
    const opsFor = (image: string) =>
      createVplcOps({
        engine,
        image,
        ulimits: [],
        interfaces: { get: () => undefined },
        dhcp: { start: async () => {}, stop: async () => {} },
        log,
      });
    const request = (name: string, host: number, runtimeVersion?: string) => {
      const payload = {
        correlation_id: host,
        container_name: name,
        vnic_configs: [
          {
            name: 'eth0',
            parent_interface: parent,
            network_mode: 'static',
            ip: `${net}.${host}`,
            subnet: `${net}.0/24`,
            gateway: `${net}.1`,
          },
        ],
        ...(runtimeVersion === undefined ? {} : { runtime_version: runtimeVersion }),
      };
      const valid = validateRequest('create_new_runtime', payload);
      if (!valid.ok) throw new Error(valid.error);
      return valid.value;
    };
    const statusOf = (name: string) =>
      deviceStatus(name, {
        status: supervisor.status(name),
        observed: watch.observed(name),
        engineAvailable: true,
        leases: new LeaseBook(),
        serialPort: () => undefined,
        defaultRuntimeVersion: 'latest',
        now: new Date(),
      });
    const imageOf = async (name: string) => {
      const info = await docker.getContainer(name).inspect();
      return {
        reference: info.Config.Image,
        id: info.Image,
        label: info.Config.Labels?.['edge.autonomy.runtime-version'],
      };
    };

    beforeAll(async () => {
      await cleanup();
      await ensureVeth(parent, `${tag}q`);
      registry = await startRegistry(tag);
      repository = `${registry.host}/${tag}-openplc`;
      const standin = await ensureStandinImage(target.socketPath);
      await cli('tag', standin, `${repository}:latest`);
      // A variant of its own (another image id), so the test can tell which image the runtime really runs.
      const build = execFile('/usr/bin/docker', [
        '-H',
        `unix://${target.socketPath}`,
        'build',
        '-q',
        '-t',
        `${repository}:v2`,
        '-',
      ]);
      build.stdin?.end(`FROM ${standin}\nLABEL edge.test.variant=v2\n`);
      await new Promise<void>((resolve, reject) =>
        build.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker build exited with ${code}`)))),
      );
      v2Id = (await docker.getImage(`${repository}:v2`).inspect()).Id;
      expect(v2Id).not.toBe((await docker.getImage(`${repository}:latest`).inspect()).Id);
      engine = new DockerEngine({
        address: { socketPath: target.socketPath },
        log,
        selfContainer: null,
        internalSubnetPool: { base: `10.212.${4 * target.index}.0/22`, size: 28 },
      });
      watch = new ContainerWatch({ engine, log, sampleIntervalMs: 1000 });
      supervisor = new Supervisor({
        ops: opsFor(`${repository}:latest`),
        log,
        restartBudget: { max: 5, windowMs: 600_000 },
      });
      supervisor.reconciled();
      watch.onFact((n, fact) => supervisor.notify(n, fact));
      await watch.start();
    }, 300_000);

    afterAll(async () => {
      supervisor?.stop();
      await watch?.stop();
      await cleanup();
      await removeVeth(parent);
      for (const version of ['latest', 'v2']) await cli('rmi', '-f', `${repository}:${version}`).catch(() => '');
      await registry?.stop();
    }, 120_000);

    it('creates the vPLC from the image tagged v2, labels it and shows the version in get_device_status', async () => {
      const name = `${tag}-v2`;
      const reply = createNewRuntime(supervisor, request(name, 50, 'v2'));
      expect(reply).toEqual({
        status: 'creating',
        container_id: name,
        message: `Container creation started for ${name}`,
      });
      await waitFor(() => supervisor.status(name)?.phase === 'running', {
        timeoutMs: 90_000,
        message: `${name} running`,
      });
      expect(await imageOf(name)).toEqual({ reference: `${repository}:v2`, id: v2Id, label: 'v2' });
      await waitFor(() => watch.observed(name)?.running, { timeoutMs: 30_000, message: 'the watch to see it' });
      expect(statusOf(name)).toMatchObject({ status: 'success', is_running: true, runtime_version: 'v2' });
    }, 120_000);

    it('keeps the version across a restart and a recreate after the container was removed from outside', async () => {
      const name = `${tag}-v2`;
      const restart = supervisor.command(name, 'RESTART');
      if (!restart.accepted) throw new Error(restart.reason);
      expect(await restart.done).toEqual({ success: true });
      expect((await imageOf(name)).id).toBe(v2Id);
      await cli('rm', '-f', name);
      await waitFor(() => supervisor.status(name)?.phase === 'failed', { timeoutMs: 30_000, message: 'failed' });
      const start = supervisor.command(name, 'START');
      if (!start.accepted) throw new Error(start.reason);
      expect(await start.done).toEqual({ success: true });
      expect(await imageOf(name)).toEqual({ reference: `${repository}:v2`, id: v2Id, label: 'v2' });
    }, 120_000);

    /** An agent started afresh: a new supervisor rebuilt by reconciliation from what Docker (and `loaded`) holds. */
    async function rebuildFromDocker(loaded: ReturnType<typeof emptyLoaded>) {
      const fresh = new Supervisor({
        ops: opsFor(`${repository}:latest`),
        log,
        restartBudget: { max: 5, windowMs: 600_000 },
      });
      const summary = await reconcile({
        engine: narrowed(engine),
        supervisor: fresh,
        ops: { removeContainer: async () => {}, removeNetworks: async () => {} },
        watch: { track: () => {}, refresh: async () => undefined },
        records: { journalEntry: () => undefined, noteInterrupted: () => 1, forget: () => {} },
        loaded,
        adopted: new AdoptedRuntimes(),
        log,
      });
      return { fresh, summary };
    }

    it('keeps the version when an agent started afresh rebuilds the vPLC from Docker alone', async () => {
      const name = `${tag}-v2`;
      const { fresh, summary } = await rebuildFromDocker(emptyLoaded());
      expect(summary.runtimes[name]).toMatchObject({ found: 'running', legacy: false });
      expect(fresh.status(name)?.spec.runtimeVersion).toBe('v2');
      fresh.stop();
    }, 60_000);

    it("takes the version of an old agent's runtime from the image it runs", async () => {
      const old = `${tag}-leg`;
      await docker.createNetwork({ Name: `${old}_internal`, Driver: 'bridge', Internal: true });
      const container = await docker.createContainer({
        name: old,
        Image: `${repository}:v2`,
        HostConfig: {
          NetworkMode: `${old}_internal`,
          CapAdd: ['SYS_NICE', 'MKNOD'],
          RestartPolicy: { Name: 'always' },
        },
      });
      await container.start();
      const { fresh, summary } = await rebuildFromDocker(
        emptyLoaded({ clients: new Map([[old, { ip: '172.20.0.2', name: old }]]) }),
      );
      expect(summary.runtimes[old]).toMatchObject({ found: 'running', legacy: true });
      expect(fresh.status(old)?.spec.runtimeVersion).toBe('v2');
      fresh.stop();
      await container.remove({ force: true });
    }, 60_000);

    it("fails a tag that is neither local nor in the registry with the old agent's sentence, and leaves nothing", async () => {
      const name = `${tag}-miss`;
      createNewRuntime(supervisor, request(name, 51, 'i11a-missing'));
      await waitFor(() => supervisor.status(name)?.phase === 'failed', {
        timeoutMs: 90_000,
        message: `${name} failed`,
      });
      const oldAgentSentence = `Runtime version 'i11a-missing' not found. The image ${repository}:i11a-missing does not exist in the registry or locally.`;
      const reason = supervisor.status(name)?.failure?.reason ?? supervisor.status(name)?.lastError ?? '';
      expect(reason).toContain(oldAgentSentence);
      expect(reason).toContain('send a runtime_version that exists');
      expect(statusOf(name)).toMatchObject({ status: 'error', runtime_version: 'i11a-missing' });
      expect((statusOf(name) as { error: string }).error).toContain(oldAgentSentence);
      // Nothing of it in Docker: no container, no internal network, no image pulled or tagged.
      expect(
        await docker
          .getContainer(name)
          .inspect()
          .catch(() => null),
      ).toBeNull();
      const networks = (await docker.listNetworks()).map((n) => n.Name);
      expect(networks.filter((n) => n.startsWith(name))).toEqual([]);
      expect(
        await docker
          .getImage(`${repository}:i11a-missing`)
          .inspect()
          .catch(() => null),
      ).toBeNull();
    }, 120_000);

    it('deletes the v2 vPLC and leaves no network of it', async () => {
      const name = `${tag}-v2`;
      const admission = supervisor.command(name, 'DELETE');
      if (!admission.accepted) throw new Error(admission.reason);
      expect(await admission.done).toEqual({ success: true });
      const networks = (await docker.listNetworks()).map((n) => n.Name);
      expect(networks.filter((n) => n.startsWith(name) || n.includes(parent))).toEqual([]);
    }, 60_000);
  },
);

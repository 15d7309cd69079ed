import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { Conflict, EngineUnavailable, ImageMissing, NotFound, Timeout } from '../../src/io/docker/errors.js';
import { ensureVeth, removeTestObjects, removeVeth, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';

const engines = await testEngines();
const log = pino({ level: 'silent' });

describe('DockerEngine without a working engine', () => {
  it('says the engine is unreachable when its socket does not exist', async () => {
    const engine = new DockerEngine({ address: { socketPath: '/tmp/t5-no-such-docker.sock' }, log });
    const err = await engine.listManagedContainers().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnavailable);
    expect((err as Error).message).toMatch(
      /^Docker engine is not reachable \(ENOENT\) while trying to list containers; check that dockerd is running/,
    );
  });

  describe('with an engine that accepts connections and never answers', () => {
    let dir: string;
    let server: Server;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 't5-hung-'));
      server = createServer(() => undefined);
      await new Promise<void>((resolve) => server.listen(join(dir, 'docker.sock'), resolve));
    });
    afterAll(async () => {
      server.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('gives up after the call timeout with a Timeout naming what it tried', async () => {
      const engine = new DockerEngine({ address: { socketPath: join(dir, 'docker.sock') }, log, callTimeoutMs: 300 });
      const err = await engine.inspectContainer('anything').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Timeout);
      expect((err as Error).message).toContain('while trying to inspect container anything');
    });
  });
});

describe.each(engines.map((e, i) => ({ ...e, index: i })))(
  'DockerEngine on Docker $label (API $apiVersion)',
  (target) => {
    const docker = new Docker({ socketPath: target.socketPath });
    const tag = target.label.replace('.', '');
    const parent = `t5e${target.index}`;
    const prefix = `t5-eng-${tag}`;
    const subnet = (n: number) => `10.56.${target.index * 10 + n}.0/24`;
    let engine: DockerEngine;
    let image: string;

    beforeAll(async () => {
      await removeTestObjects(target.socketPath, prefix, [prefix, `macvlan_${parent}_`]);
      await ensureVeth(parent, `t5f${target.index}`);
      image = await ensureStandinImage(target.socketPath);
      engine = new DockerEngine({
        address: { socketPath: target.socketPath },
        log,
        selfContainer: null,
        registryAnswerMs: 3000,
      });
    }, 300_000);

    afterAll(async () => {
      await removeTestObjects(target.socketPath, prefix, [prefix, `macvlan_${parent}_`]);
      await removeVeth(parent);
    }, 60_000);

    it('speaks the daemon API version and picks the create path from it', async () => {
      expect(await engine.apiVersion()).toBe(target.apiVersion);
      expect(await engine.multiNetworkCreate()).toBe(target.label === '26');
    });

    it('uses the local image when no registry answers, and names a missing image', async () => {
      expect(await engine.ensureImage(image)).toBe('local');
      const err = await engine.ensureImage(`${prefix}-absent:latest`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageMissing);
      expect((err as Error).message).toMatch(new RegExp(`^Runtime image ${prefix}-absent:latest is not on this host`));
    });

    it('creates a MACVLAN network once, reuses it by exact name, and reuses an overlapping one with the same parent', async () => {
      const first = await engine.ensureMacvlanNetwork({ parent, subnet: subnet(0), gateway: null });
      expect(first.name).toBe(`macvlan_${parent}_${subnet(0).replace('/', '_')}`);
      expect(first.managed).toBe(true);
      const again = await engine.ensureMacvlanNetwork({ parent, subnet: subnet(0), gateway: null });
      expect(again.id).toBe(first.id);

      // Docker carries one MACVLAN network per parent: another subnet on the same parent is refused with a sentence.
      const other = await engine
        .ensureMacvlanNetwork({ parent, subnet: subnet(3), gateway: null })
        .catch((e: unknown) => e);
      expect(other).toBeInstanceOf(Conflict);
      expect((other as Error).message).toContain(
        `parent interface ${parent} already carries ${first.name} (subnet ${subnet(0)})`,
      );

      expect(await engine.removeNetworkIfUnused(first.name, { requireOwned: true })).toBe('removed');
      expect(await engine.removeNetworkIfUnused(first.name, { requireOwned: true })).toBe('absent');

      // A network someone else named, on the same parent and subnet: Docker refuses the overlap, we reuse theirs.
      const theirs = `${prefix}-theirs`;
      await docker.createNetwork({
        Name: theirs,
        Driver: 'macvlan',
        Options: { parent },
        IPAM: { Driver: 'default', Config: [{ Subnet: subnet(1) }] },
      });
      const reused = await engine.ensureMacvlanNetwork({ parent, subnet: subnet(1), gateway: null });
      expect(reused.name).toBe(theirs);
      expect(await engine.findNetwork(`macvlan_${parent}_${subnet(1).replace('/', '_')}`)).toBeUndefined();
      // ... and never removes it: it is not ours.
      expect(await engine.removeNetworkIfUnused(theirs, { requireOwned: true })).toBe('not_ours');
      expect(await engine.findNetwork(theirs)).toBeDefined();
      await docker.getNetwork(theirs).remove();
    });

    it('matches network names exactly, never by prefix', async () => {
      await engine.ensureInternalNetwork(`${prefix}-n`);
      await engine.ensureInternalNetwork(`${prefix}-n1`);
      expect(await engine.findNetwork(`${prefix}-n`)).toBeUndefined();
      expect((await engine.findNetwork(`${prefix}-n_internal`))?.name).toBe(`${prefix}-n_internal`);
      expect(await engine.findNetwork(`${prefix}-n_intern`)).toBeUndefined();
      expect(await engine.removeNetworkIfUnused(`${prefix}-n_internal`, { requireOwned: true })).toBe('removed');
      expect((await engine.findNetwork(`${prefix}-n1_internal`))?.internal).toBe(true);
      expect(await engine.removeNetworkIfUnused(`${prefix}-n1_internal`, { requireOwned: true })).toBe('removed');
    });

    it('keeps a network that a container uses and lists the MACs in use on a parent', async () => {
      const lan = await engine.ensureMacvlanNetwork({ parent, subnet: subnet(2), gateway: null });
      const name = `${prefix}-user`;
      await docker.createContainer({
        name,
        Image: image,
        MacAddress: '02:56:00:00:00:07',
        HostConfig: { NetworkMode: lan.name },
      });
      expect(await engine.removeNetworkIfUnused(lan.name, { requireOwned: true })).toBe('in_use');
      // A created (never started) container already holds its endpoint and MAC.
      const used = await engine.macsInUse(parent);
      expect(used.get('02:56:00:00:00:07')).toBe(name);
      expect((await engine.macsInUse(parent, name)).has('02:56:00:00:00:07')).toBe(false);
      expect((await engine.macsInUse('t5-other')).size).toBe(0);
      await engine.removeContainer(name);
      expect(await engine.removeNetworkIfUnused(lan.name, { requireOwned: true })).toBe('removed');
    });

    it('maps a missing container to NotFound on start and to "absent" on stop and remove', async () => {
      await expect(engine.startContainer(`${prefix}-ghost`)).rejects.toBeInstanceOf(NotFound);
      expect(await engine.stopContainer(`${prefix}-ghost`)).toBe('absent');
      expect(await engine.removeContainer(`${prefix}-ghost`)).toBe('absent');
      expect(await engine.inspectContainer(`${prefix}-ghost`)).toBeUndefined();
    });

    it('has nothing to join when the agent runs on the host', async () => {
      expect(await engine.joinInternal(`${prefix}-any`)).toBe('host');
      await engine.leaveInternal(`${prefix}-any`);
    });
  },
);

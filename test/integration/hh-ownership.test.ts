import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdoptedRuntimes } from '../../src/actors/boot/adoptedRuntimes.js';
import { OldAgentFootprint } from '../../src/actors/boot/oldAgentFootprint.js';
import { type ReconcileEngine, reconcile } from '../../src/actors/boot/reconcile.js';
import { SelfDestruct, type SelfDestructEngine } from '../../src/actors/orchestrator/selfDestruct.js';
import { createVplcOps } from '../../src/actors/vplc/ops.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { Conflict } from '../../src/io/docker/errors.js';
import type { VnicRecord } from '../../src/io/store/referenceFiles.js';
import type { LoadedState } from '../../src/io/store/stateStore.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps } from '../model/support/fakeOps.js';
import { ensureVeth, removeTestObjects, removeVeth, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * What the agent may treat as its own, on the real engines: a network or container whose name looks like ours is
 * not ours. Every object here starts with `hh`; the engines are shared with other test runs, so what the code under
 * test lists is narrowed to this file's objects (self-destruct and reconciliation look at the whole engine).
 */
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

describe.each(engines.map((e, i) => ({ ...e, index: i })))('on Docker $label (API $apiVersion)', (target) => {
  const docker = new Docker({ socketPath: target.socketPath });
  const tag = `hh${target.label.replace('.', '')}`;
  const parentA = `${tag}pa`;
  const parentB = `${tag}pb`;
  const octet = 80 + target.index * 4;
  const mine = (name: string) => name.startsWith(tag) || name.startsWith(`macvlan_${tag}`);
  let image: string;
  let engine: DockerEngine;

  /** Only this file's objects: the code under test must not see (or touch) anybody else's. */
  const narrowed = <T extends Pick<DockerEngine, 'networksByDriver' | 'listManagedContainers'>>(real: T): T =>
    Object.assign(Object.create(real) as T, {
      networksByDriver: async (driver: string) => (await real.networksByDriver(driver)).filter((n) => mine(n.name)),
      listManagedContainers: async () => (await real.listManagedContainers()).filter((c) => mine(c.name)),
    });

  const cleanup = () => removeTestObjects(target.socketPath, tag, [tag, `macvlan_${parentA}_`, `macvlan_${parentB}_`]);

  const createNetwork = (opts: Docker.NetworkCreateOptions) => docker.createNetwork(opts);
  const runContainer = async (name: string, network: string, extra: Partial<Docker.ContainerCreateOptions> = {}) => {
    const c = await docker.createContainer({
      name,
      Image: image,
      ...extra,
      HostConfig: { NetworkMode: network, ...(extra.HostConfig ?? {}) },
    });
    await c.start();
    return c;
  };
  const networkOf = async (name: string) =>
    (await docker.listNetworks({ filters: { name: [name] } })).find((n) => n.Name === name);
  const membersOf = async (name: string) =>
    Object.values((await docker.getNetwork(name).inspect()).Containers ?? {})
      .map((c) => (c as { Name: string }).Name)
      .sort();

  beforeAll(async () => {
    await cleanup();
    await ensureVeth(parentA, `${tag}qa`);
    await ensureVeth(parentB, `${tag}qb`);
    image = await ensureStandinImage(target.socketPath);
    // Its own pool range: on a busy engine Docker's default pools reach 172.31.0.0/16 (the agent's default pool), and
    // a network there would leave no /28 free for this test.
    engine = new DockerEngine({
      address: { socketPath: target.socketPath },
      log,
      selfContainer: null,
      internalSubnetPool: { base: `10.${octet + 2}.0.0/22`, size: 28 },
    });
  }, 300_000);

  afterAll(async () => {
    await cleanup();
    await removeVeth(parentA);
    await removeVeth(parentB);
  }, 120_000);

  describe('an existing <name>_internal network', () => {
    const spec = (name: string, host: number): VplcSpec => ({
      name,
      vnics: [
        {
          name: 'eth0',
          parent_interface: parentA,
          network_mode: 'static',
          ip: `10.${octet}.1.${host}`,
          subnet: `10.${octet}.1.0/24`,
          gateway: `10.${octet}.1.1`,
        },
      ],
      serials: [],
    });
    const agentName = `${tag}-agent`;
    let joiningEngine: DockerEngine;

    beforeAll(async () => {
      // A compose project `<tag>-shop` with a network called `<tag>-shop_internal` and a web container on it.
      await createNetwork({
        Name: `${tag}-shop_internal`,
        Driver: 'bridge',
        Labels: { 'com.docker.compose.network': 'internal', 'com.docker.compose.project': `${tag}-shop` },
      });
      await runContainer(`${tag}-shop-web`, `${tag}-shop_internal`);
      // The agent's own container, so that joining is exercised.
      await createNetwork({ Name: `${tag}-agentnet`, Driver: 'bridge', Internal: true });
      await runContainer(agentName, `${tag}-agentnet`);
      joiningEngine = new DockerEngine({
        address: { socketPath: target.socketPath },
        log,
        selfContainer: agentName,
        internalSubnetPool: { base: `10.${octet + 2}.0.0/22`, size: 28 },
      });
    }, 120_000);

    const opsWith = (over: { adopted?: string[] } = {}) =>
      createVplcOps({
        engine: joiningEngine,
        image,
        ulimits: [],
        interfaces: { get: () => undefined },
        dhcp: { start: async () => {}, stop: async () => {} },
        log,
        isAdopted: (name) => over.adopted?.includes(name) ?? false,
      });

    it('refuses to create a vPLC next to a compose network of that name, and never joins or removes it', async () => {
      const ops = opsWith();
      const shop = spec(`${tag}-shop`, 10);
      const sentence = `Network ${tag}-shop_internal already exists on this host and is not the internal network of vPLC ${tag}-shop (it has no labels of this agent; it is not an internal network (it routes outside the host); ${tag}-shop-web is attached to it); the agent will not attach ${tag}-shop or itself to it. Choose another container_name, or remove that network if nothing needs it.`;
      const prepared = await ops.prepare(shop).catch((err: unknown) => err);
      expect(prepared).toBeInstanceOf(Conflict);
      expect((prepared as Error).message).toBe(sentence);
      await expect(ops.createNetworks(shop)).rejects.toThrow(sentence);
      await expect(joiningEngine.joinInternal(shop.name)).rejects.toThrow(sentence);
      await expect(docker.getContainer(shop.name).inspect()).rejects.toMatchObject({ statusCode: 404 });
      // A delete of the (failed) vPLC cleans what is its own and leaves the compose network as it was.
      await ops.removeNetworks(shop);
      expect(await membersOf(`${tag}-shop_internal`)).toEqual([`${tag}-shop-web`]);
    }, 60_000);

    it("refuses the old agent's shape of network for a vPLC not adopted from the old agent, and takes it for one that was", async () => {
      const name = `${tag}-old`;
      await createNetwork({ Name: `${name}_internal`, Driver: 'bridge', Internal: true });
      const fresh = await opsWith()
        .prepare(spec(name, 11))
        .catch((err: unknown) => err);
      expect((fresh as Error).message).toMatch(
        /\(it is not the unlabelled internal bridge|\(it has no labels of this agent\)/,
      );
      const adoptedOps = opsWith({ adopted: [name] });
      await adoptedOps.prepare(spec(name, 11));
      await adoptedOps.createNetworks(spec(name, 11));
      expect(await joiningEngine.joinInternal(name, { oldAgentRuntime: true })).toBe('joined');
      expect(await membersOf(`${name}_internal`)).toEqual([agentName]);
      await adoptedOps.removeNetworks(spec(name, 11));
      expect(await networkOf(`${name}_internal`)).toBeUndefined();
    }, 60_000);

    it('refuses a network named like the MACVLAN network of a vNIC that goes somewhere else', async () => {
      const subnet = `10.${octet}.4.0/24`;
      await createNetwork({
        Name: `macvlan_${parentB}_10.${octet}.4.0_24`,
        Driver: 'bridge',
        IPAM: { Driver: 'default', Config: [{ Subnet: subnet }] },
      });
      const vplc: VplcSpec = {
        name: `${tag}-mvname`,
        vnics: [
          {
            name: 'eth0',
            parent_interface: parentB,
            network_mode: 'static',
            ip: `10.${octet}.4.9`,
            subnet,
            gateway: `10.${octet}.4.1`,
          },
        ],
        serials: [],
      };
      const ops = opsWith();
      await expect(ops.createNetworks(vplc)).rejects.toThrow(
        `Network macvlan_${parentB}_10.${octet}.4.0_24 already exists on this host but is not a MACVLAN network on ${parentB} with subnet ${subnet} (it is a bridge network with subnet ${subnet}); the agent will not attach vPLCs to it. Remove or rename that network.`,
      );
      await ops.removeNetworks(vplc);
      expect(await networkOf(`macvlan_${parentB}_10.${octet}.4.0_24`)).toBeDefined();
      await docker.getNetwork(`macvlan_${parentB}_10.${octet}.4.0_24`).remove();
    }, 60_000);

    it('refuses our own network once a container that is not the runtime joined it', async () => {
      const name = `${tag}-joined`;
      await engine.ensureInternalNetwork(name);
      await docker.getNetwork(`${name}_internal`).connect({ Container: `${tag}-shop-web` });
      await expect(opsWith().prepare(spec(name, 12))).rejects.toThrow(`(${tag}-shop-web is attached to it)`);
      await expect(joiningEngine.joinInternal(name)).rejects.toThrow(`${tag}-shop-web is attached to it`);
      await docker.getNetwork(`${name}_internal`).disconnect({ Container: `${tag}-shop-web`, Force: true });
      await engine.removeNetworkIfUnused(`${name}_internal`, { requireOwned: true });
    }, 60_000);
  });

  describe('self-destruct', () => {
    it("removes our unused networks and the old agent's its files record, and no network that only looks like one", async () => {
      const oldMacvlan = `macvlan_${parentA}_10.${octet}.2.0_24`;
      const strangerMacvlan = `macvlan_${parentB}_10.${octet}.3.0_24`;
      await createNetwork({ Name: `${tag}-rec_internal`, Driver: 'bridge', Internal: true });
      await createNetwork({ Name: `${tag}-lone_internal`, Driver: 'bridge', Internal: true });
      await createNetwork({
        Name: `${tag}-compose_internal`,
        Driver: 'bridge',
        Labels: { 'com.docker.compose.network': 'internal' },
      });
      for (const [name, parent, subnet] of [
        [oldMacvlan, parentA, `10.${octet}.2.0/24`],
        [strangerMacvlan, parentB, `10.${octet}.3.0/24`],
      ] as const) {
        await createNetwork({
          Name: name,
          Driver: 'macvlan',
          Options: { parent },
          IPAM: { Driver: 'default', Config: [{ Subnet: subnet }] },
        });
      }
      await engine.ensureInternalNetwork(`${tag}-ours`);

      const record: VnicRecord = {
        name: 'eth0',
        parent_interface: parentA,
        network_mode: 'dhcp',
        docker_network_name: oldMacvlan,
      };
      const footprint = OldAgentFootprint.fromFiles(
        emptyLoaded({
          clients: new Map([[`${tag}-rec`, { ip: '172.20.0.2', name: `${tag}-rec` }]]),
          runtimeVnics: new Map([[`${tag}-rec`, [record]]]),
        }),
      );
      const supervisor = new Supervisor({ ops: new FakeOps().ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
      supervisor.reconciled();
      const real = narrowed(engine);
      const selfDestructEngine: SelfDestructEngine = {
        networksByDriver: (driver) => real.networksByDriver(driver),
        removeNetworkIfUnused: (name, ownership) => engine.removeNetworkIfUnused(name, ownership),
        stopContainer: async () => 'absent',
        removeContainer: async () => 'absent',
        removeVolume: async () => 'absent',
        findSelf: async () => null,
      };
      const selfDestruct = new SelfDestruct({
        supervisor,
        engine: selfDestructEngine,
        clearRecords: async () => {},
        isOldAgentNetwork: (net) => footprint.ownsNetwork(net),
        log,
      });
      selfDestruct.begin();
      await waitFor(() => selfDestruct.status()?.status === 'error', { timeoutMs: 30_000 });
      expect(selfDestruct.status()?.step).toBe('removing_self');
      supervisor.stop();

      const left = (await docker.listNetworks()).map((n) => n.Name).filter(mine);
      expect(left).not.toContain(`${tag}-ours_internal`);
      expect(left).not.toContain(`${tag}-rec_internal`);
      expect(left).not.toContain(oldMacvlan);
      expect(left).toContain(`${tag}-lone_internal`);
      expect(left).toContain(`${tag}-compose_internal`);
      expect(left).toContain(strangerMacvlan);
      for (const name of [`${tag}-lone_internal`, `${tag}-compose_internal`, strangerMacvlan]) {
        await docker.getNetwork(name).remove();
      }
    }, 90_000);
  });

  describe('boot reconciliation', () => {
    it("adopts the old agent's runtime its files name, and leaves an unlabelled look-alike exactly as it is", async () => {
      const old = `${tag}-leg`;
      const lookalike = `${tag}-web`;
      const imposter = `${tag}-imp`;
      for (const name of [old, lookalike, imposter]) {
        await createNetwork({ Name: `${name}_internal`, Driver: 'bridge', Internal: true });
      }
      const caps = { CapAdd: ['SYS_NICE', 'MKNOD'], RestartPolicy: { Name: 'always' } };
      await runContainer(old, `${old}_internal`, { HostConfig: caps });
      // Someone's web container on a network named like a runtime's internal one; no file names it.
      await runContainer(lookalike, `${lookalike}_internal`, { HostConfig: { RestartPolicy: { Name: 'always' } } });
      // A name the files know, held by a container that is not shaped like the old agent's runtimes.
      await runContainer(imposter, `${imposter}_internal`, { HostConfig: { RestartPolicy: { Name: 'always' } } });
      const loaded = emptyLoaded({
        clients: new Map([
          [old, { ip: '172.20.0.2', name: old }],
          [imposter, { ip: '172.20.0.3', name: imposter }],
        ]),
      });
      const supervisor = new Supervisor({ ops: new FakeOps().ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
      const adopted = new AdoptedRuntimes();
      const tracked: string[] = [];
      const reconcileEngine: ReconcileEngine = narrowed(engine);
      const summary = await reconcile({
        engine: reconcileEngine,
        supervisor,
        ops: { removeContainer: async () => {}, removeNetworks: async () => {} },
        watch: { track: (name) => tracked.push(name), refresh: async () => undefined },
        records: { journalEntry: () => undefined, noteInterrupted: () => 1, forget: () => {} },
        loaded,
        adopted,
        log,
      });
      const policy = async (name: string) => (await docker.getContainer(name).inspect()).HostConfig.RestartPolicy?.Name;

      expect(summary.runtimes[old]).toMatchObject({ found: 'running', action: 'adopted', legacy: true });
      expect(await policy(old)).toBe('no');
      expect(Object.keys(summary.runtimes)).not.toContain(lookalike);
      expect(await policy(lookalike)).toBe('always');
      expect(supervisor.status(lookalike)).toBeUndefined();
      // The vPLC the files know is supervised without a container; the container holding its name is not touched.
      expect(summary.runtimes[imposter]).toMatchObject({ found: 'missing', legacy: true });
      expect(await policy(imposter)).toBe('always');
      expect(adopted.ownsContainer(imposter, (await docker.getContainer(imposter).inspect()).Id)).toBe(false);
      expect(tracked.sort()).toEqual([imposter, old].sort());
      supervisor.stop();
    }, 90_000);
  });
});

import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVplcOps } from '../../src/actors/vplc/ops.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { Conflict, ImageMissing, RlimitRefused } from '../../src/io/docker/errors.js';
import { macsFromLabels, specFromLabels } from '../../src/io/docker/labels.js';
import type { InterfaceLookup } from '../../src/io/docker/subnet.js';
import type { VplcOps } from '../../src/machines/vplc/ports.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { ensureVeth, removeTestObjects, removeVeth, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';

const engines = await testEngines();
const log = pino({ level: 'silent' });
const NETWORK_PREFIXES = ['t5-ops-', 'macvlan_t5p'];

/** The interface cache the netmon sidecar would fill; tests set entries directly. */
class Interfaces implements InterfaceLookup {
  readonly entries = new Map<string, { subnet: string; gateway: string | null }>();
  get(iface: string) {
    return this.entries.get(iface);
  }
}

/** Records what the vPLC asked of the DHCP side (the sidecar is another boundary, proven in its own tests). */
class RecordingDhcp {
  readonly started: string[] = [];
  readonly stopped: string[] = [];
  async start(spec: VplcSpec) {
    this.started.push(spec.name);
  }
  async stop(spec: VplcSpec) {
    this.stopped.push(spec.name);
  }
}

/** What the vPLC machine does on create, with its rollback on any failure. */
async function createLikeMachine(ops: VplcOps, spec: VplcSpec): Promise<void> {
  try {
    await ops.prepare(spec);
    await ops.createNetworks(spec);
    await ops.createContainer(spec);
    await ops.startContainer(spec.name);
    await ops.attachAgent(spec.name);
    await ops.startDhcp(spec);
  } catch (err) {
    await ops.removeContainer(spec.name);
    await ops.removeNetworks(spec);
    throw err;
  }
}

async function deleteLikeMachine(ops: VplcOps, spec: VplcSpec): Promise<void> {
  await ops.stopDhcp(spec);
  await ops.stopContainer(spec.name);
  await ops.removeContainer(spec.name);
  await ops.removeNetworks(spec);
}

async function networkNames(docker: Docker): Promise<string[]> {
  return (await docker.listNetworks()).map((n) => n.Name);
}

it('has at least one Docker engine to test against (or says why not)', () => {
  if (engines.length === 0) console.warn('[docker] no engine reachable: vplcOps integration tests skipped');
  expect(Array.isArray(engines)).toBe(true);
});

describe.each(engines.map((e, i) => ({ ...e, index: i })))('VplcOps on Docker $label (API $apiVersion)', (target) => {
  const docker = new Docker({ socketPath: target.socketPath });
  const tag = target.label.replace('.', '');
  const parentA = `t5p${target.index * 2}`;
  const parentB = `t5p${target.index * 2 + 1}`;
  const net = (n: number) => `10.55.${10 + target.index * 10 + n}`;
  const agentName = `t5-ops-${tag}-agent`;
  const agentNet = `t5-ops-${tag}-agentnet`;
  let image: string;
  let interfaces: Interfaces;
  let dhcp: RecordingDhcp;
  let engine: DockerEngine;
  let ops: VplcOps;
  /** The internal addresses ops reported after each join (what clients.json keeps). */
  const internalAddresses = new Map<string, string | null>();

  const makeOps = (over: { image?: string; ulimits?: Array<{ name: string; soft: number; hard: number }> } = {}) =>
    createVplcOps({
      engine,
      image: over.image ?? image,
      ulimits: over.ulimits ?? [{ name: 'nofile', soft: 1024, hard: 1024 }],
      interfaces,
      dhcp,
      log,
      subnetWaitMs: 1000,
      onInternalAddress: (name, ip) => internalAddresses.set(name, ip),
    });

  beforeAll(async () => {
    await removeTestObjects(
      target.socketPath,
      `t5-ops-${tag}`,
      NETWORK_PREFIXES.map((p) => (p === 'macvlan_t5p' ? `macvlan_${parentA}_` : p)),
    );
    await removeTestObjects(target.socketPath, `t5-ops-${tag}`, [`macvlan_${parentB}_`]);
    await ensureVeth(parentA, `t5q${target.index * 2}`);
    await ensureVeth(parentB, `t5q${target.index * 2 + 1}`);
    image = await ensureStandinImage(target.socketPath);
    // The agent's own container, on a bridge of its own, so joining runtimes' internal networks is exercised.
    await docker.createNetwork({ Name: agentNet, Driver: 'bridge', Internal: true });
    const agent = await docker.createContainer({
      name: agentName,
      Image: image,
      HostConfig: { NetworkMode: agentNet },
    });
    await agent.start();
    interfaces = new Interfaces();
    dhcp = new RecordingDhcp();
    engine = new DockerEngine({
      address: { socketPath: target.socketPath },
      log,
      selfContainer: agentName,
      registryAnswerMs: 3000,
    });
    ops = makeOps();
  }, 300_000);

  afterAll(async () => {
    await removeTestObjects(target.socketPath, `t5-ops-${tag}`, [
      `t5-ops-${tag}`,
      `macvlan_${parentA}_`,
      `macvlan_${parentB}_`,
    ]);
    await removeVeth(parentA);
    await removeVeth(parentB);
  }, 120_000);

  it('creates a runtime with a static IP and the given MAC: container, networks and labels as specified', async () => {
    const spec: VplcSpec = {
      name: `t5-ops-${tag}-static`,
      vnics: [
        {
          name: 'eth0',
          parent_interface: parentA,
          network_mode: 'static',
          ip: `${net(0)}.20/24`,
          subnet: `${net(0)}.0/24`,
          gateway: `${net(0)}.1`,
          dns: [`${net(0)}.53`, '1.1.1.1', `${net(0)}.53`],
          mac: '02:55:00:00:00:01',
          parent_subnet: 'kept verbatim',
        },
      ],
      serials: [{ name: 'modbus', device_id: 'usb-FTDI-if00-port0', container_path: '/dev/modbus0', baud_rate: 9600 }],
    };
    await createLikeMachine(ops, spec);
    const internalIp = internalAddresses.get(spec.name);

    const info = await docker.getContainer(spec.name).inspect();
    expect(info.State.Running).toBe(true);
    expect(info.Config.Labels['edge.autonomy.managed']).toBe('true');
    expect(info.Config.Labels['edge.autonomy.role']).toBe('vplc');
    expect(specFromLabels(spec.name, info.Config.Labels)).toEqual(spec);
    expect(info.HostConfig.RestartPolicy?.Name).toBe('no');
    expect(info.HostConfig.CapAdd).toEqual(expect.arrayContaining(['SYS_NICE', 'MKNOD']));
    expect(info.HostConfig.DeviceCgroupRules).toEqual(['c 188:* rmw', 'c 166:* rmw']);
    expect(info.HostConfig.Ulimits).toEqual([{ Name: 'nofile', Soft: 1024, Hard: 1024 }]);
    expect(info.HostConfig.Dns).toEqual([`${net(0)}.53`, '1.1.1.1']);

    const macvlan = `macvlan_${parentA}_${net(0)}.0_24`;
    const internal = `${spec.name}_internal`;
    expect(Object.keys(info.NetworkSettings.Networks).sort()).toEqual([internal, macvlan].sort());
    const lan = info.NetworkSettings.Networks[macvlan];
    expect(lan?.IPAddress).toBe(`${net(0)}.20`);
    expect(lan?.MacAddress).toBe('02:55:00:00:00:01');
    expect(internalIp).toBe(info.NetworkSettings.Networks[internal]?.IPAddress);
    expect(internalIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const lanNet = await docker.getNetwork(macvlan).inspect();
    expect(lanNet.Driver).toBe('macvlan');
    expect(lanNet.Options?.parent).toBe(parentA);
    expect(lanNet.Labels?.['edge.autonomy.managed']).toBe('true');
    expect(lanNet.IPAM?.Config?.[0]).toMatchObject({ Subnet: `${net(0)}.0/24`, Gateway: `${net(0)}.1` });
    const internalNet = await docker.getNetwork(internal).inspect();
    expect(internalNet.Internal).toBe(true);
    expect(internalNet.Driver).toBe('bridge');
    expect(internalNet.Labels?.['edge.autonomy.vplc']).toBe(spec.name);
    // The agent joined the runtime's internal network, so run_command can reach the runtime.
    const agent = await docker.getContainer(agentName).inspect();
    expect(Object.keys(agent.NetworkSettings.Networks)).toContain(internal);

    // Every step is idempotent: running the whole create again changes nothing.
    await ops.createNetworks(spec);
    const again = await ops.createContainer(spec);
    expect(again.containerId).toBe(info.Id);
    expect((await ops.startContainer(spec.name)).containerId).toBe(info.Id);

    await deleteLikeMachine(ops, spec);
    const left = await networkNames(docker);
    expect(left).not.toContain(internal);
    expect(left).not.toContain(macvlan);
    await expect(docker.getContainer(spec.name).inspect()).rejects.toMatchObject({ statusCode: 404 });
    // Deleting again is harmless.
    await deleteLikeMachine(ops, spec);
  }, 120_000);

  it('creates a DHCP runtime on an auto-detected subnet with a generated locally administered MAC', async () => {
    interfaces.entries.set(parentB, { subnet: `${net(1)}.0/24`, gateway: `${net(1)}.1` });
    const spec: VplcSpec = {
      name: `t5-ops-${tag}-dhcp`,
      vnics: [{ name: 'lan', parent_interface: parentB, network_mode: 'dhcp' }],
      serials: [],
    };
    await createLikeMachine(ops, spec);
    expect(dhcp.started).toContain(spec.name);
    const info = await docker.getContainer(spec.name).inspect();
    const lan = info.NetworkSettings.Networks[`macvlan_${parentB}_${net(1)}.0_24`];
    expect(lan).toBeDefined();
    const first = Number.parseInt(lan?.MacAddress.slice(0, 2) ?? 'ff', 16);
    expect(first & 0x03).toBe(0x02); // locally administered, unicast
    // The generated MAC is kept in a label, so a recreated runtime can keep its DHCP identity.
    expect(macsFromLabels(info.Config.Labels)).toEqual({ lan: lan?.MacAddress });
    await deleteLikeMachine(ops, spec);
    expect(dhcp.stopped).toContain(spec.name);
    interfaces.entries.delete(parentB);
    expect(await networkNames(docker)).not.toContain(`macvlan_${parentB}_${net(1)}.0_24`);
  }, 120_000);

  it('creates a runtime with two vNICs on two parents, both networks attached before start', async () => {
    const spec: VplcSpec = {
      name: `t5-ops-${tag}-two`,
      vnics: [
        {
          name: 'field',
          parent_interface: parentA,
          network_mode: 'static',
          ip: `${net(2)}.30`,
          subnet: '255.255.255.0',
          gateway: `${net(2)}.1`,
          mac: '02:55:00:00:02:01',
        },
        {
          name: 'office',
          parent_interface: parentB,
          network_mode: 'static',
          ip: `${net(3)}.30`,
          subnet: `${net(3)}.0/24`,
          gateway: `${net(3)}.1`,
          mac: '02:55:00:00:02:02',
        },
      ],
      serials: [],
    };
    await createLikeMachine(ops, spec);
    const info = await docker.getContainer(spec.name).inspect();
    const field = info.NetworkSettings.Networks[`macvlan_${parentA}_${net(2)}.0_24`];
    const office = info.NetworkSettings.Networks[`macvlan_${parentB}_${net(3)}.0_24`];
    expect(field?.IPAddress).toBe(`${net(2)}.30`);
    expect(office?.IPAddress).toBe(`${net(3)}.30`);
    expect(field?.MacAddress).toBe('02:55:00:00:02:01');
    if (target.label === '26') {
      expect(office?.MacAddress).toBe('02:55:00:00:02:02');
    } else {
      // API 1.41 cannot choose the second network's MAC: Docker assigns one, and that is what gets reported.
      expect(office?.MacAddress).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    }
    expect(Object.keys(info.NetworkSettings.Networks)).toContain(`${spec.name}_internal`);
    await deleteLikeMachine(ops, spec);
  }, 120_000);

  it('stops, starts again and keeps a MACVLAN network while another runtime still uses it', async () => {
    const base = {
      parent_interface: parentA,
      network_mode: 'static',
      subnet: `${net(4)}.0/24`,
      gateway: `${net(4)}.1`,
    };
    const a: VplcSpec = {
      name: `t5-ops-${tag}-a`,
      vnics: [{ name: 'eth0', ...base, ip: `${net(4)}.11` }],
      serials: [],
    };
    const b: VplcSpec = {
      name: `t5-ops-${tag}-b`,
      vnics: [{ name: 'eth0', ...base, ip: `${net(4)}.12` }],
      serials: [],
    };
    await createLikeMachine(ops, a);
    await createLikeMachine(ops, b);

    await ops.stopContainer(a.name);
    expect((await docker.getContainer(a.name).inspect()).State.Running).toBe(false);
    await ops.stopContainer(a.name); // already stopped: fine
    const restarted = await ops.startContainer(a.name);
    expect((await docker.getContainer(a.name).inspect()).State.Running).toBe(true);
    expect(Date.parse(restarted.startedAt)).toBeGreaterThan(0);

    const shared = `macvlan_${parentA}_${net(4)}.0_24`;
    await deleteLikeMachine(ops, a);
    expect(await networkNames(docker)).toContain(shared);
    expect(await networkNames(docker)).not.toContain(`${a.name}_internal`);
    await deleteLikeMachine(ops, b);
    expect(await networkNames(docker)).not.toContain(shared);
  }, 120_000);

  it('gives one requested MAC to only one of two creates made side by side on one parent', async () => {
    const vnic = (ip: number) => ({
      name: 'eth0',
      parent_interface: parentA,
      network_mode: 'static',
      ip: `${net(9)}.${ip}`,
      subnet: `${net(9)}.0/24`,
      gateway: `${net(9)}.1`,
      mac: '02:55:00:00:09:09',
    });
    const specs: VplcSpec[] = [1, 2].map((i) => ({
      name: `t5-ops-${tag}-twin${i}`,
      vnics: [vnic(10 + i)],
      serials: [],
    }));
    const outcomes = await Promise.allSettled(specs.map((spec) => createLikeMachine(ops, spec)));
    const made = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []));
    expect(made).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/MAC address 02:55:00:00:09:09 is already in use/);
    const winner = specs[outcomes.findIndex((o) => o.status === 'fulfilled')] as VplcSpec;
    const loser = specs.find((s) => s !== winner) as VplcSpec;
    expect(macsFromLabels((await docker.getContainer(winner.name).inspect()).Config.Labels ?? {})).toEqual({
      eth0: '02:55:00:00:09:09',
    });
    await expect(docker.getContainer(loser.name).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await deleteLikeMachine(ops, winner);
  }, 120_000);

  it('refuses specs that cannot work, with the sentence a plant engineer needs', async () => {
    const ok = {
      name: 'eth0',
      parent_interface: parentA,
      network_mode: 'static',
      ip: `${net(5)}.2`,
      subnet: `${net(5)}.0/24`,
      gateway: `${net(5)}.1`,
    };
    await expect(ops.prepare({ name: 'x', vnics: [ok], serials: [] })).rejects.toThrow(
      /not a valid Docker container name/,
    );
    await expect(ops.prepare({ name: `t5-ops-${tag}-v`, vnics: [], serials: [] })).rejects.toThrow(
      'At least one vNIC configuration is required',
    );
    await expect(
      ops.prepare({ name: `t5-ops-${tag}-v`, vnics: [{ ...ok, network_mode: 'DHCP' }], serials: [] }),
    ).rejects.toThrow(/network_mode 'DHCP' is not supported/);
    await expect(
      ops.prepare({ name: `t5-ops-${tag}-v`, vnics: [ok, { ...ok, name: 'eth1', ip: `${net(5)}.3` }], serials: [] }),
    ).rejects.toThrow(
      `Invalid vNIC configuration: vNICs 'eth0' and 'eth1' would connect to the same MACVLAN network (macvlan_${parentA}_${net(5)}.0_24).`,
    );
    await expect(
      ops.prepare({
        name: `t5-ops-${tag}-v`,
        vnics: [{ name: 'lan', parent_interface: 't5nosuch', network_mode: 'dhcp' }],
        serials: [],
      }),
    ).rejects.toThrow(
      'Could not detect subnet for interface t5nosuch. The interface may not exist or netmon may not be running.',
    );

    // A MAC already used by a runtime on the same parent.
    const holder: VplcSpec = { name: `t5-ops-${tag}-mac`, vnics: [{ ...ok, mac: '02:55:00:00:05:05' }], serials: [] };
    await createLikeMachine(ops, holder);
    await expect(
      ops.prepare({
        name: `t5-ops-${tag}-v`,
        vnics: [{ ...ok, ip: `${net(5)}.9`, mac: '02:55:00:00:05:05' }],
        serials: [],
      }),
    ).rejects.toThrow(/^MAC address 02:55:00:00:05:05 is already in use\. Container t5-ops-.*-mac uses it/);
    // Repeating the holder's own prepare is not a conflict with itself.
    await ops.prepare(holder);
    await deleteLikeMachine(ops, holder);
  }, 120_000);

  it('refuses to create over, stop or remove a container it does not manage', async () => {
    const foreign = `t5-ops-${tag}-foreign`;
    await docker.createContainer({ name: foreign, Image: image, HostConfig: { NetworkMode: 'none' } });
    const spec: VplcSpec = {
      name: foreign,
      vnics: [
        {
          name: 'eth0',
          parent_interface: parentA,
          network_mode: 'static',
          ip: `${net(6)}.2`,
          subnet: `${net(6)}.0/24`,
          gateway: `${net(6)}.1`,
        },
      ],
      serials: [],
    };
    await expect(ops.prepare(spec)).rejects.toThrow(Conflict);
    await expect(ops.stopContainer(foreign)).rejects.toThrow(
      `Container ${foreign} is not managed by this agent; refusing to stop it.`,
    );
    await expect(ops.removeContainer(foreign)).rejects.toThrow(Conflict);
    expect((await docker.getContainer(foreign).inspect()).Name).toBe(`/${foreign}`);
  }, 60_000);

  it('reports a missing image naming it and --runtime-image, and a create that fails on it leaves nothing behind', async () => {
    const missing = 't5-ops-no-such-image:latest';
    const broken = makeOps({ image: missing });
    const spec: VplcSpec = {
      name: `t5-ops-${tag}-noimg`,
      vnics: [
        {
          name: 'eth0',
          parent_interface: parentA,
          network_mode: 'static',
          ip: `${net(7)}.2`,
          subnet: `${net(7)}.0/24`,
          gateway: `${net(7)}.1`,
        },
      ],
      serials: [],
    };
    const before = await networkNames(docker);
    const failure = await createLikeMachine(broken, spec).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ImageMissing);
    expect((failure as Error).message).toContain(missing);
    expect((failure as Error).message).toContain('--runtime-image');

    // The same failure in the middle of a create (networks already made): the rollback removes them.
    await broken.createNetworks(spec);
    expect(await networkNames(docker)).toContain(`${spec.name}_internal`);
    const midway = await broken.createContainer(spec).catch((err: unknown) => err);
    expect(midway).toBeInstanceOf(ImageMissing);
    await broken.removeContainer(spec.name);
    await broken.removeNetworks(spec);
    expect((await networkNames(docker)).sort()).toEqual(before.sort());
    await expect(docker.getContainer(spec.name).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }, 120_000);

  it("reports the engine's rlimit refusal on start, and the rollback leaves nothing behind", async () => {
    // dockerd's own hard limits are rtprio 0 and memlock 8 MiB here: the old agent's defaults are refused.
    const strict = makeOps({
      ulimits: [
        { name: 'rtprio', soft: 99, hard: 99 },
        { name: 'memlock', soft: -1, hard: -1 },
      ],
    });
    const spec: VplcSpec = {
      name: `t5-ops-${tag}-rlimit`,
      vnics: [
        {
          name: 'eth0',
          parent_interface: parentA,
          network_mode: 'static',
          ip: `${net(8)}.2`,
          subnet: `${net(8)}.0/24`,
          gateway: `${net(8)}.1`,
        },
      ],
      serials: [],
    };
    const before = await networkNames(docker);
    const failure = await createLikeMachine(strict, spec).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(RlimitRefused);
    expect((failure as Error).message).toMatch(/^Could not start vPLC t5-ops-.*-rlimit: .*rlimit/);
    expect((failure as Error).message).toContain('--runtime-ulimits');
    expect((await networkNames(docker)).sort()).toEqual(before.sort());
    await expect(docker.getContainer(spec.name).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }, 120_000);
});

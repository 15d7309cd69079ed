import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSidecar, startSidecar } from '../../sidecar/src/sidecar.js';
import { KeptMacs } from '../../src/actors/network/macs.js';
import { createVplcOps } from '../../src/actors/vplc/ops.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { NetmonConnector, type NetmonSession } from '../../src/io/netmon/client.js';
import type { InterfaceLookup } from '../../src/io/docker/subnet.js';
import type { VplcOps } from '../../src/machines/vplc/ports.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { ensureVeth, removeTestObjects, removeVeth, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';

/**
 * VplcOps.moveNetworks against the real engines: a parent interface changes subnet and the runtimes on it follow
 * (docs/protocol.md#subnet-changes). Docker allows one MACVLAN network per parent, so the old network is emptied,
 * removed and replaced. Neither engine can choose the MAC of a network it connects, so a real sidecar (in this process,
 * on a temporary socket) sets the vNIC's MAC back inside the runtime's namespace (`set_mac`); the MAC the interface
 * really has is read with `nsenter … ip link`.
 */

const engines = await testEngines();
const log = pino({ level: 'silent' });
const execFileAsync = promisify(execFile);

/** The MACs of a running container's interfaces, as the kernel has them (not as Docker reports them). */
async function kernelMacs(docker: Docker, name: string): Promise<string[]> {
  const pid = (await docker.getContainer(name).inspect()).State.Pid;
  const { stdout } = await execFileAsync('nsenter', ['-t', String(pid), '-n', '--', 'ip', '-json', 'link', 'show'], {
    timeout: 10_000,
  });
  return (JSON.parse(stdout) as Array<{ address?: string }>).map((l) => l.address ?? '');
}

let sidecarDir: string;
let sidecar: RunningSidecar;
let session: NetmonSession;

/** The agent's set_mac call (agent.ts), over the real protocol to a real sidecar. */
async function setMacThroughSidecar(pid: number, currentMac: string, mac: string): Promise<void> {
  const reply = await session.request({
    command: 'set_mac',
    container_pid: pid,
    current_mac: currentMac,
    mac_address: mac,
  });
  if (!reply.success) throw new Error(reply.error);
}

beforeAll(async () => {
  if (engines.length === 0) return;
  sidecarDir = await mkdtemp(join(tmpdir(), 't11-move-'));
  sidecar = await startSidecar({
    socketPath: join(sidecarDir, 'netmon.sock'),
    dataDir: join(sidecarDir, 'data'),
    log,
    sysRoot: join(sidecarDir, 'no-sys'),
  });
  session = await new NetmonConnector({ socketPath: join(sidecarDir, 'netmon.sock'), log }).connect();
}, 60_000);

afterAll(async () => {
  session?.close();
  await sidecar?.close();
  if (sidecarDir) await rm(sidecarDir, { recursive: true, force: true });
});

class Interfaces implements InterfaceLookup {
  readonly entries = new Map<string, { subnet: string; gateway: string | null }>();
  get(iface: string) {
    return this.entries.get(iface);
  }
}

class RecordingDhcp {
  readonly forgotten: string[] = [];
  async start() {}
  async stop() {}
  forgetLease(vplc: string, vnic: string) {
    this.forgotten.push(`${vplc}:${vnic}`);
  }
}

async function createLikeMachine(ops: VplcOps, spec: VplcSpec): Promise<void> {
  await ops.prepare(spec);
  await ops.createNetworks(spec);
  await ops.createContainer(spec);
  await ops.startContainer(spec.name);
}

it('has at least one Docker engine to test against (or says why not)', () => {
  if (engines.length === 0) console.warn('[docker] no engine reachable: network move tests skipped');
  expect(Array.isArray(engines)).toBe(true);
});

describe.each(engines.map((e, i) => ({ ...e, index: i })))(
  'moveNetworks on Docker $label (API $apiVersion)',
  (target) => {
    const docker = new Docker({ socketPath: target.socketPath });
    const tag = target.label.replace('.', '');
    const parent = `t11p${2 + target.index * 2}`;
    const peer = `t11p${3 + target.index * 2}`;
    const prefix = `t11-mv-${tag}`;
    const octet = 240 + target.index * 4;
    const multi = Number(target.apiVersion.split('.')[1]) >= 44;
    let image: string;
    let interfaces: Interfaces;
    let dhcp: RecordingDhcp;
    let engine: DockerEngine;
    const adopted = new Set<string>();
    let ops: VplcOps;
    let kept: KeptMacs;
    /** The same agent without a sidecar (it is away): a move cannot keep the MAC and says so. */
    let opsWithoutSidecar: VplcOps;

    const networks = async (name: string) =>
      Object.keys((await docker.getContainer(name).inspect()).NetworkSettings.Networks).sort();
    const endpoint = async (name: string, network: string) =>
      (await docker.getContainer(name).inspect()).NetworkSettings.Networks[network];
    const macvlansOnParent = async () =>
      (await docker.listNetworks({ filters: { driver: ['macvlan'] } }))
        .filter((n) => n.Options?.parent === parent)
        .map((n) => n.Name)
        .sort();

    beforeAll(async () => {
      await removeTestObjects(target.socketPath, prefix, [prefix, `macvlan_${parent}_`]);
      await ensureVeth(parent, peer);
      image = await ensureStandinImage(target.socketPath);
      interfaces = new Interfaces();
      dhcp = new RecordingDhcp();
      engine = new DockerEngine({ address: { socketPath: target.socketPath }, log, selfContainer: null });
      kept = new KeptMacs();
      const common = {
        engine,
        image,
        ulimits: [],
        interfaces,
        dhcp,
        log,
        subnetWaitMs: 0,
        isAdopted: (name: string) => adopted.has(name),
      };
      ops = createVplcOps({ ...common, keptMacs: kept, setMac: setMacThroughSidecar });
      opsWithoutSidecar = createVplcOps({
        ...common,
        setMac: async () => {
          throw new Error('the network monitor sidecar (autonomy_netmon) is not connected');
        },
      });
    }, 300_000);

    afterAll(async () => {
      await removeTestObjects(target.socketPath, prefix, [prefix, `macvlan_${parent}_`]);
      await removeVeth(parent);
    }, 120_000);

    const staticSpec: VplcSpec = {
      name: `${prefix}-static`,
      vnics: [
        {
          name: 'eth0',
          parent_interface: parent,
          network_mode: 'static',
          ip: `10.${octet}.0.50/24`,
          mac: `02:42:0a:${octet.toString(16)}:00:32`,
        },
      ],
      serials: [],
    };
    const dhcpSpec: VplcSpec = {
      name: `${prefix}-dhcp`,
      vnics: [{ name: 'lan', parent_interface: parent, network_mode: 'dhcp' }],
      serials: [],
    };
    const oldNet = `macvlan_${parent}_10.${octet}.0.0_24`;
    const newNet = `macvlan_${parent}_10.${octet + 1}.0.0_24`;

    it('moves every runtime on the parent (a stopped one too), keeps their MACs, reports the static IP, removes the old network', async () => {
      interfaces.entries.set(parent, { subnet: `10.${octet}.0.0/24`, gateway: null });
      await createLikeMachine(ops, staticSpec);
      await createLikeMachine(ops, dhcpSpec);
      const staticMac = staticSpec.vnics[0]?.mac as string;
      const dhcpMac = (await endpoint(dhcpSpec.name, oldNet))?.MacAddress as string;
      expect(dhcpMac).toMatch(/^[0-9a-f:]{17}$/);
      await engine.stopContainer(dhcpSpec.name);
      expect(await macvlansOnParent()).toEqual([oldNet]);

      interfaces.entries.set(parent, { subnet: `10.${octet + 1}.0.0/24`, gateway: null });
      const { conflicts } = await ops.moveNetworks({ spec: staticSpec, parentInterfaces: [parent] });

      expect(await macvlansOnParent()).toEqual([newNet]);
      expect(await networks(staticSpec.name)).toEqual([newNet, `${staticSpec.name}_internal`]);
      expect(await networks(dhcpSpec.name)).toEqual([newNet, `${dhcpSpec.name}_internal`]);
      const moved = await endpoint(staticSpec.name, newNet);
      expect(moved?.IPAddress).toMatch(new RegExp(`^10\\.${octet + 1}\\.0\\.`));
      // Docker cannot choose the MAC on connect and keeps reporting its own; the interface has the vNIC's MAC.
      expect(moved?.MacAddress).not.toBe(staticMac);
      const macs = await kernelMacs(docker, staticSpec.name);
      expect(macs).toContain(staticMac);
      expect(macs).not.toContain(moved?.MacAddress);
      expect(kept.actual(staticSpec.name, newNet, moved?.MacAddress ?? null)).toBe(staticMac);
      expect(conflicts).toEqual([
        `vNIC eth0 of ${staticSpec.name}: static IP 10.${octet}.0.50 is outside the new subnet 10.${octet + 1}.0.0/24 of ${parent}, so it was connected without it; send a new configuration with an address in 10.${octet + 1}.0.0/24 (delete and create ${staticSpec.name})`,
      ]);
      expect(dhcp.forgotten).toEqual([`${dhcpSpec.name}:lan`]);
      expect((await docker.getContainer(staticSpec.name).inspect()).State.Running).toBe(true);

      // The stopped runtime starts on the new network (its primary network is the internal bridge on API >= 1.44,
      // and API 1.41 starts it although its MACVLAN primary is gone) and gets its MAC back when it starts.
      await ops.startContainer(dhcpSpec.name);
      const dhcpAfter = await endpoint(dhcpSpec.name, newNet);
      expect(dhcpAfter?.IPAddress).toMatch(new RegExp(`^10\\.${octet + 1}\\.0\\.`));
      expect(await kernelMacs(docker, dhcpSpec.name)).toContain(dhcpMac);
      expect(kept.actual(dhcpSpec.name, newNet, dhcpAfter?.MacAddress ?? null)).toBe(dhcpMac);

      // Its own move finds it moved already, with its MAC.
      const second = await ops.moveNetworks({ spec: dhcpSpec, parentInterfaces: [parent] });
      expect(second.conflicts).toEqual([]);
      // Repeating a move changes nothing and reports the same.
      const networkId = (await docker.getNetwork(newNet).inspect()).Id;
      const again = await ops.moveNetworks({ spec: staticSpec, parentInterfaces: [parent] });
      expect(again.conflicts).toEqual(conflicts);
      expect((await docker.getNetwork(newNet).inspect()).Id).toBe(networkId);
      expect(dhcp.forgotten).toEqual([`${dhcpSpec.name}:lan`]);

      // A restart recreates the endpoint with Docker's MAC; the agent's start sets the kept one again.
      await engine.stopContainer(staticSpec.name);
      await ops.startContainer(staticSpec.name);
      expect((await docker.getContainer(staticSpec.name).inspect()).State.Running).toBe(true);
      expect(await kernelMacs(docker, staticSpec.name)).toContain(staticMac);

      for (const spec of [staticSpec, dhcpSpec]) {
        await engine.removeContainer(spec.name);
        await ops.removeNetworks(spec);
      }
      expect(kept.entries(staticSpec.name)).toEqual([]);
    }, 180_000);

    it.runIf(multi)(
      'refuses to move a runtime whose primary network is the old MACVLAN network, and changes nothing',
      async () => {
        // As an earlier version of this agent created runtimes on API >= 1.44.
        const name = `${prefix}-mvprimary`;
        const mac = `02:42:0a:${octet.toString(16)}:00:33`;
        interfaces.entries.set(parent, { subnet: `10.${octet}.0.0/24`, gateway: null });
        await engine.ensureMacvlanNetwork({ parent, subnet: `10.${octet}.0.0/24`, gateway: null });
        await engine.ensureInternalNetwork(name);
        await docker
          .createContainer({
            name,
            Image: image,
            HostConfig: { NetworkMode: oldNet, RestartPolicy: { Name: 'no' } },
            NetworkingConfig: { EndpointsConfig: { [oldNet]: { MacAddress: mac }, [`${name}_internal`]: {} } },
          })
          .then((c) => c.start());
        adopted.add(name);
        const spec: VplcSpec = {
          name,
          vnics: [{ name: 'eth0', parent_interface: parent, network_mode: 'dhcp', mac }],
          serials: [],
        };
        interfaces.entries.set(parent, { subnet: `10.${octet + 1}.0.0/24`, gateway: null });
        await expect(ops.moveNetworks({ spec, parentInterfaces: [parent] })).rejects.toThrow(
          `container ${name} has ${oldNet} as its primary network, and this Docker engine (API 1.44 or newer) cannot connect or start a container whose primary network was removed; nothing was changed and it stays on the old subnet; delete and create ${name} to place it on 10.${octet + 1}.0.0/24`,
        );
        expect(await macvlansOnParent()).toEqual([oldNet]);
        expect(await networks(name)).toEqual([oldNet, `${name}_internal`]);
        await engine.stopContainer(name);
        await engine.startContainer(name);
        expect((await docker.getContainer(name).inspect()).State.Running).toBe(true);
        await engine.removeContainer(name);
        await ops.removeNetworks(spec);
      },
      120_000,
    );

    it.runIf(multi)(
      'moves a runtime made as the old agent makes them (internal bridge primary) without a sidecar: static IP inside the new subnet kept, replaced MAC reported with the reason',
      async () => {
        const name = `${prefix}-ref`;
        const mac = `02:aa:0a:${(octet + 2).toString(16)}:05:3c`;
        const legacy = `macvlan_${parent}_10.${octet + 2}.0.0_16`;
        interfaces.entries.set(parent, { subnet: `10.${octet + 2}.0.0/16`, gateway: null });
        await engine.ensureMacvlanNetwork({ parent, subnet: `10.${octet + 2}.0.0/16`, gateway: null });
        await engine.ensureInternalNetwork(name);
        await docker
          .createContainer({
            name,
            Image: image,
            HostConfig: { NetworkMode: `${name}_internal`, RestartPolicy: { Name: 'no' } },
            NetworkingConfig: {
              EndpointsConfig: {
                [`${name}_internal`]: {},
                [legacy]: { MacAddress: mac, IPAMConfig: { IPv4Address: `10.${octet + 2}.5.60` } },
              },
            },
          })
          .then((c) => c.start());
        adopted.add(name);
        const spec: VplcSpec = {
          name,
          vnics: [{ name: 'eth1', parent_interface: parent, network_mode: 'static', ip: `10.${octet + 2}.5.60`, mac }],
          serials: [],
        };
        interfaces.entries.set(parent, { subnet: `10.${octet + 2}.5.0/24`, gateway: `10.${octet + 2}.5.1` });
        const { conflicts } = await opsWithoutSidecar.moveNetworks({ spec, parentInterfaces: [parent] });
        const moved = `macvlan_${parent}_10.${octet + 2}.5.0_24`;
        expect(await macvlansOnParent()).toEqual([moved]);
        const after = await endpoint(name, moved);
        expect(after?.IPAddress).toBe(`10.${octet + 2}.5.60`);
        // API 1.45 honours EndpointConfig.MacAddress at create only, not on connect; without the sidecar it stays so.
        expect(await kernelMacs(docker, name)).toContain(after?.MacAddress);
        expect(conflicts).toEqual([
          `vNIC eth1 of ${name} now has MAC ${after?.MacAddress} instead of ${mac}: Docker cannot choose the MAC of a network it connects to an existing container, and setting ${mac} back failed (the network monitor sidecar (autonomy_netmon) is not connected), so DHCP reservations and MAC filters for ${mac} no longer match; update them, restart ${name} once the network monitor sidecar runs, or delete and create ${name} to get ${mac} back`,
        ]);
        const pool = (await docker.getNetwork(moved).inspect()).IPAM?.Config?.[0];
        expect(pool).toMatchObject({ Subnet: `10.${octet + 2}.5.0/24`, Gateway: `10.${octet + 2}.5.1` });
        await engine.stopContainer(name);
        await engine.startContainer(name);
        expect(await endpoint(name, moved)).toMatchObject({ IPAddress: `10.${octet + 2}.5.60` });
      },
      120_000,
    );
  },
);

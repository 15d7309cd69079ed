import { describe, expect, it } from 'vitest';
import { OldAgentFootprint } from '../../src/actors/boot/oldAgentFootprint.js';
import type { ContainerFacts, NetworkFacts } from '../../src/io/docker/convert.js';
import { internalNetworkLabels, macvlanNetworkLabels } from '../../src/io/docker/labels.js';
import {
  internalNetworkProblem,
  isOldAgentInternalNetwork,
  isOldAgentMacvlanNetwork,
  isOurInternalNetwork,
} from '../../src/io/docker/ownership.js';
import { containerIdsFromCgroup, containerIdsFromMountinfo } from '../../src/io/docker/selfContainer.js';

const net = (over: Partial<NetworkFacts>): NetworkFacts => ({
  id: 'n1',
  name: 'shop_internal',
  driver: 'bridge',
  internal: true,
  labels: {},
  managed: false,
  parent: null,
  subnets: ['172.20.0.0/16'],
  containers: {},
  ...over,
});

const container = (over: Partial<ContainerFacts>): ContainerFacts => ({
  id: 'c'.repeat(64),
  name: 'plc-1',
  labels: {},
  managed: false,
  role: null,
  image: 'ghcr.io/autonomy-logic/openplc-runtime:latest',
  status: 'running',
  running: true,
  exitCode: null,
  oomKilled: false,
  startedAt: '2026-01-20T10:00:00Z',
  finishedAt: null,
  restartCount: 0,
  health: null,
  pid: 42,
  networks: { 'plc-1_internal': { ip: '172.20.0.2', mac: null, gateway: null } },
  internalIp: '172.20.0.2',
  networkMode: 'plc-1_internal',
  configuredMac: null,
  capAdd: ['SYS_NICE', 'MKNOD'],
  memoryLimitBytes: 0,
  nanoCpus: 0,
  cpuQuota: 0,
  cpuPeriod: 0,
  ...over,
});

describe('which internal network carries a vPLC', () => {
  const ours = net({ labels: internalNetworkLabels('shop'), managed: true });

  it('takes the one this agent made for that runtime, with only the runtime and the agent on it', () => {
    expect(isOurInternalNetwork(ours, 'shop')).toBe(true);
    const members = { a: { name: 'shop', mac: null }, self: { name: 'orchestrator_agent', mac: null } };
    expect(
      internalNetworkProblem({ ...ours, containers: members }, 'shop', { oldAgentRuntime: false, selfId: 'self' }),
    ).toBeNull();
  });

  it('refuses a compose network of that name, naming it and saying why', () => {
    const compose = net({
      labels: { 'com.docker.compose.network': 'internal', 'com.docker.compose.project': 'shop' },
      internal: false,
      containers: { w: { name: 'shop-web-1', mac: null } },
    });
    expect(internalNetworkProblem(compose, 'shop', { oldAgentRuntime: false, selfId: null })).toBe(
      'Network shop_internal already exists on this host and is not the internal network of vPLC shop (it has no labels of this agent; it is not an internal network (it routes outside the host); shop-web-1 is attached to it); the agent will not attach shop or itself to it. Choose another container_name, or remove that network if nothing needs it.',
    );
  });

  it('refuses our own network of another runtime, and ours when a stranger joined it', () => {
    const other = net({ labels: internalNetworkLabels('shop2'), managed: true });
    expect(internalNetworkProblem(other, 'shop', { oldAgentRuntime: false, selfId: null })).toMatch(
      /its labels give it to shop2/,
    );
    const joined = { ...ours, containers: { x: { name: 'intruder', mac: null } } };
    expect(internalNetworkProblem(joined, 'shop', { oldAgentRuntime: false, selfId: null })).toMatch(
      /\(intruder is attached to it\)/,
    );
  });

  it("takes the old agent's unlabelled bridge only for a runtime adopted from the old agent", () => {
    const old = net({ containers: { a: { name: 'shop', mac: null } } });
    expect(isOldAgentInternalNetwork(old, 'shop')).toBe(true);
    expect(internalNetworkProblem(old, 'shop', { oldAgentRuntime: true, selfId: null })).toBeNull();
    expect(internalNetworkProblem(old, 'shop', { oldAgentRuntime: false, selfId: null })).toMatch(
      /it has no labels of this agent/,
    );
    expect(isOldAgentInternalNetwork({ ...old, internal: false }, 'shop')).toBe(false);
    expect(isOldAgentInternalNetwork({ ...old, labels: { team: 'x' } }, 'shop')).toBe(false);
  });
});

describe("the old agent's footprint", () => {
  const footprint = new OldAgentFootprint(['plc-1'], [['plc-1', 'macvlan_eth0_10.0.0.0_24']]);
  const oldMacvlan = net({
    name: 'macvlan_eth0_10.0.0.0_24',
    driver: 'macvlan',
    internal: false,
    parent: 'eth0',
    subnets: ['10.0.0.0/24'],
  });

  it('owns the networks its files name, in the exact shape the old agent made them', () => {
    expect(isOldAgentMacvlanNetwork(oldMacvlan)).toBe(true);
    expect(footprint.ownsNetwork(oldMacvlan)).toBe(true);
    expect(footprint.ownsNetwork(net({ name: 'plc-1_internal' }))).toBe(true);
  });

  it('does not own a network that only looks like one of its names', () => {
    expect(footprint.ownsNetwork(net({ name: 'web_internal' }))).toBe(false);
    const unnamed = { ...oldMacvlan, name: 'macvlan_eth1_10.0.1.0_24', parent: 'eth1', subnets: ['10.0.1.0/24'] };
    expect(isOldAgentMacvlanNetwork(unnamed)).toBe(true);
    expect(footprint.ownsNetwork(unnamed)).toBe(false);
    expect(footprint.ownsNetwork({ ...oldMacvlan, parent: 'eth9' })).toBe(false);
    expect(footprint.ownsNetwork({ ...oldMacvlan, labels: { vendor: 'vlan-tool' } })).toBe(false);
    expect(footprint.ownsNetwork({ ...oldMacvlan, labels: macvlanNetworkLabels() })).toBe(false);
  });

  it('recognises its runtimes by the files, the capabilities it gave them and their networks', () => {
    expect(footprint.isOldAgentRuntime(container({}))).toBe(true);
    expect(footprint.isOldAgentRuntime(container({ capAdd: ['CAP_SYS_NICE', 'CAP_MKNOD'] }))).toBe(true);
    expect(footprint.isOldAgentRuntime(container({ name: 'web' }))).toBe(false);
    expect(footprint.isOldAgentRuntime(container({ capAdd: [] }))).toBe(false);
    expect(footprint.isOldAgentRuntime(container({ labels: { 'edge.autonomy.role': 'vplc' } }))).toBe(false);
    expect(footprint.isOldAgentRuntime(container({ networks: {}, networkMode: 'bridge' }))).toBe(false);
    expect(
      footprint.isOldAgentRuntime(
        container({
          networks: { 'macvlan_eth0_10.0.0.0_24': { ip: null, mac: null, gateway: null } },
          networkMode: 'x',
        }),
      ),
    ).toBe(true);
  });
});

describe('the container this process runs in', () => {
  const id = 'a6dd13724992488a6e6416b22239247a765b75a2e13b97369e4b4a71afccf3a5';
  const other = 'b'.repeat(64);

  it('is named by the /etc bind mounts of its mount table (either data root)', () => {
    const mountinfo = [
      `96 79 254:0 /var/lib/docker/containers/${id}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw`,
      `97 79 254:0 /opt/docker26/data/containers/${id}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw`,
      // dockerd's own mounts for another container, as the host's mount table shows them: not us.
      `120 25 0:50 / /var/lib/docker/containers/${other}/mounts/shm rw - tmpfs shm rw`,
      `121 25 254:0 /var/lib/docker/containers/${other}/hosts /srv/copy-of-hosts rw - ext4 /dev/vda rw`,
    ].join('\n');
    expect(containerIdsFromMountinfo(mountinfo)).toEqual([id]);
    expect(containerIdsFromMountinfo('25 1 254:0 / / rw - ext4 /dev/vda rw\n')).toEqual([]);
  });

  it('is named by Docker cgroup paths (cgroupfs and systemd drivers), and by nothing else', () => {
    expect(containerIdsFromCgroup(`9:name=systemd:/docker/${id}\n8:pids:/docker/${id}\n`)).toEqual([id]);
    expect(containerIdsFromCgroup(`0::/system.slice/docker-${id}.scope\n`)).toEqual([id]);
    expect(containerIdsFromCgroup('0::/\n4:memory:/process_api/868d7cde4d2978ca639a93803190a415\n')).toEqual([]);
    expect(containerIdsFromCgroup(`0::/user.slice/${id}\n`)).toEqual([]);
  });
});

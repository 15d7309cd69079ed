import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { toCreateOptions } from '../../src/io/docker/convert.js';
import { defineBenchmark, median, round, target } from './harness.js';
import { createAndWait, deleteAll, openRig, PREFIX, type Rig, removeLeftovers, startAgent } from './rig.js';

const sh = promisify(execFile);
const ROUNDS = 3;
const AT_ONCE = 10;
/** A raw round's MACVLAN parent, a veth end made for it: one no network uses (see `freeRawNetwork`). */
async function freeRawParent(docker: Docker): Promise<string> {
  const networks = await docker.listNetworks({ filters: { driver: ['macvlan'] } });
  const used = new Set(networks.map((n) => n.Options?.parent));
  let k = 0;
  while (used.has(`${PREFIX}raw${k}`)) k++;
  const parent = `${PREFIX}raw${k}`;
  await sh('ip', ['link', 'del', parent]).catch(() => {});
  await sh('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', `${parent}q`]);
  await sh('ip', ['link', 'set', parent, 'up']);
  return parent;
}
const RAW_NETWORK = `${PREFIX}-raw-macvlan`;

/**
 * The raw rounds' MACVLAN network: `10.219.<octet>.0/24` on a subnet no network holds. Docker 20.10 sometimes keeps a
 * stale endpoint that stops a network from being removed; the next round then takes another name and subnet.
 */
async function freeRawNetwork(docker: Docker): Promise<{ name: string; octet: number }> {
  const taken = new Set((await docker.listNetworks()).flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet)));
  for (let octet = 0; octet < 255; octet++) {
    if (!taken.has(`10.219.${octet}.0/24`))
      return { name: octet === 0 ? RAW_NETWORK : `${RAW_NETWORK}-${octet}`, octet };
  }
  throw new Error('no free 10.219.x.0/24 subnet for the raw MACVLAN network');
}

/**
 * Raw dockerode doing what a create must do on the engine, with nothing else: look the name up, list the networks (to
 * choose a free internal subnet), create the internal bridge, make sure the MACVLAN network is there, create the
 * container with the agent's own create body (toCreateOptions), connect it to the internal bridge, start it, inspect
 * it. `at` picks distinct internal subnets and addresses, so concurrent creates need no coordination.
 */
async function rawCreate(
  docker: Docker,
  image: string,
  name: string,
  at: number,
  macvlan: Promise<{ name: string; octet: number }>,
) {
  const started = performance.now();
  await docker
    .getContainer(name)
    .inspect()
    .then(
      () => {
        throw new Error(`${name} exists`);
      },
      (err: { statusCode?: number }) => {
        if (err.statusCode !== 404) throw err;
      },
    );
  await docker.listNetworks();
  const internal = `${name}_internal`;
  await docker.createNetwork({
    Name: internal,
    Driver: 'bridge',
    Internal: true,
    CheckDuplicate: true,
    IPAM: { Driver: 'default', Config: [{ Subnet: `10.218.${at}.0/28` }] },
    Labels: { 'i12.bench': 'raw' },
  });
  const raw = await macvlan;
  await docker.getNetwork(raw.name).inspect();
  const request = toCreateOptions(
    {
      name,
      image,
      labels: { 'i12.bench': 'raw' },
      macvlans: [
        { network: raw.name, mac: `02:42:0a:da:00:${(at + 16).toString(16)}`, ipv4: `10.219.${raw.octet}.${at + 20}` },
      ],
      internalNetwork: internal,
      dns: [],
      ulimits: [],
    },
    { multiNetworkCreate: false },
  );
  const container = await docker.createContainer(request.options);
  for (const pending of request.connectBeforeStart) {
    await docker.getNetwork(pending.network).connect({ Container: container.id, EndpointConfig: pending.endpoint });
  }
  await container.start();
  const info = await container.inspect();
  if (!info.State.Running) throw new Error(`${name} is not running`);
  return performance.now() - started;
}

async function rawRound(docker: Docker, image: string, count: number): Promise<number[]> {
  const names = Array.from({ length: count }, (_, i) => `${PREFIX}-raw-${i}`);
  // One MACVLAN network per parent: the first create makes it, the others wait for it (as the agent's do).
  const free = await freeRawNetwork(docker);
  const parent = await freeRawParent(docker);
  const macvlan = docker
    .createNetwork({
      Name: free.name,
      Driver: 'macvlan',
      CheckDuplicate: true,
      Options: { parent },
      IPAM: { Driver: 'default', Config: [{ Subnet: `10.219.${free.octet}.0/24`, Gateway: `10.219.${free.octet}.1` }] },
      Labels: { 'i12.bench': 'raw' },
    })
    .then(() => free);
  try {
    return await Promise.all(names.map((n, i) => rawCreate(docker, image, n, i, macvlan)));
  } finally {
    await macvlan.catch(() => {});
    await sh('/usr/bin/docker', ['rm', '-f', ...names]).catch(() => {});
    await sh('/usr/bin/docker', ['network', 'rm', free.name, ...names.map((n) => `${n}_internal`)]).catch(() => {});
    await sh('ip', ['link', 'del', parent]).catch(() => {});
  }
}

async function agentRound(rig: Rig, count: number): Promise<number[]> {
  const names = Array.from({ length: count }, (_, i) => `${PREFIX}-cr-${i}`);
  try {
    return await Promise.all(names.map((n, i) => createAndWait(rig, n, 20 + i)));
  } finally {
    await deleteAll(rig, names);
  }
}

/**
 * Target 4: creates through the built agent (create_new_runtime ack until get_device_status says running) against
 * raw dockerode making the same containers, one at a time and ten at once on one parent interface, alternating in
 * each round on this shared machine.
 */
export default defineBenchmark({
  name: 'create',
  description:
    'create_new_runtime ack -> running through the agent vs raw dockerode: one, and 10 at once on one parent',
  async run() {
    await removeLeftovers();
    const rig = await openRig({ parent: `${PREFIX}cr0`, subnetOctet: 216 });
    const docker = new Docker({ socketPath: '/var/run/docker.sock' });
    const agent = await startAgent(rig);
    const one = { agent: [] as number[], raw: [] as number[] };
    const ten = {
      agentAll: [] as number[],
      rawAll: [] as number[],
      agentMedian: [] as number[],
      rawMedian: [] as number[],
    };
    try {
      await rig.cloud.waitForConnection(30_000);
      // Warm-up: the first create pays for image layers and page cache on both sides.
      await rawRound(docker, rig.image, 1);
      await agentRound(rig, 1);
      for (let r = 1; r <= ROUNDS; r++) {
        one.raw.push(...(await rawRound(docker, rig.image, 1)));
        one.agent.push(...(await agentRound(rig, 1)));
        const raw = await rawRound(docker, rig.image, AT_ONCE);
        ten.rawAll.push(Math.max(...raw));
        ten.rawMedian.push(median(raw));
        const agentTimes = await agentRound(rig, AT_ONCE);
        ten.agentAll.push(Math.max(...agentTimes));
        ten.agentMedian.push(median(agentTimes));
      }
      const oneAgent = round(median(one.agent), 0);
      const oneRaw = round(median(one.raw), 0);
      const allAgent = round(median(ten.agentAll), 0);
      const allRaw = round(median(ten.rawAll), 0);
      const perRound = (xs: number[]) => xs.map((x) => round(x, 0));
      return {
        one: { agentMs: perRound(one.agent), rawMs: perRound(one.raw) },
        tenAtOnce: {
          agentAllRunningMs: perRound(ten.agentAll),
          rawAllRunningMs: perRound(ten.rawAll),
          agentMedianMs: perRound(ten.agentMedian),
          rawMedianMs: perRound(ten.rawMedian),
        },
        targets: [
          target({
            id: 'target-4a-create-ten',
            target: '10 vPLCs created at once on one parent: all running in <= 1.2x raw dockerode',
            figure: allAgent,
            unit: 'ms until all 10 run (median of rounds)',
            baseline: { what: 'raw dockerode, same calls, 10 at once', value: allRaw },
            met: allAgent <= 1.2 * allRaw,
            details: {
              medianAckToRunningMs: round(median(ten.agentMedian), 0),
              rawMedianMs: round(median(ten.rawMedian), 0),
            },
          }),
          target({
            id: 'target-4b-create-one',
            target: 'one create <= 1.1x raw dockerode',
            figure: oneAgent,
            unit: 'ms ack -> running (median of rounds)',
            baseline: { what: 'raw dockerode, same calls', value: oneRaw },
            met: oneAgent <= 1.1 * oneRaw,
          }),
        ],
      };
    } finally {
      await agent.proc.stop();
      await rig.close();
    }
  },
});

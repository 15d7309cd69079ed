import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdoptedRuntimes } from '../../src/actors/boot/adoptedRuntimes.js';
import { type ReconcileEngine, reconcile } from '../../src/actors/boot/reconcile.js';
import { LeaseBook } from '../../src/actors/network/leases.js';
import { Records } from '../../src/actors/state/records.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import type Dockerode from 'dockerode';
import { fromInspect, fromNetworkInspect } from '../../src/io/docker/convert.js';
import { macsFromLabels } from '../../src/io/docker/labels.js';
import { storePaths } from '../../src/io/store/referenceFiles.js';
import { StateStore } from '../../src/io/store/stateStore.js';
import { FakeOps, flush } from '../model/support/fakeOps.js';

/**
 * Runtime names come from outside: the cloud, an old agent's files, a hand edit. Each of these is also the name of
 * something every plain JavaScript object has (or, for `then`, what makes an object a promise), so a store keyed by
 * plain objects would find a built-in where there is no runtime, or drop the runtime itself.
 */
const NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'then', '__proto__'];
const log = pino({ level: 'silent' });

/** Files written as raw text: building them as object literals in JavaScript would already lose `__proto__`. */
function fileOf(entries: Array<[string, unknown]>): string {
  return `{\n${entries.map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n')}\n}`;
}

const vnicOf = (name: string) => ({
  name: 'lan',
  parent_interface: 'eth0',
  network_mode: 'static',
  ip: `10.9.0.${NAMES.indexOf(name) + 10}`,
  subnet: '10.9.0.0/24',
  gateway: '10.9.0.1',
});
const portOf = (name: string) => ({
  name: 'rtu',
  device_id: `usb-FTDI_${NAMES.indexOf(name)}`,
  container_path: '/dev/modbus0',
  status: 'disconnected',
  current_host_path: null,
  major: null,
  minor: null,
});
const journalEntryOf = (name: string) => ({
  spec: {
    name,
    vnics: [vnicOf(name)],
    serials: [{ name: 'rtu', device_id: `usb-FTDI_${NAMES.indexOf(name)}`, container_path: '/dev/modbus0' }],
  },
  desired: 'stopped',
  operation: null,
  state: 'stopped',
  failure: null,
  interruptions: 0,
  updatedAt: '2026-01-20T10:00:00.000Z',
});

/** Docker with nothing in it: the files are all the agent knows. */
const emptyEngine: ReconcileEngine = {
  listManagedContainers: async () => [],
  listContainers: async () => [],
  inspectContainer: async () => undefined,
  networksByDriver: async () => [],
  removeNetworkIfUnused: async () => 'absent',
  ensureRestartPolicy: async () => 'absent',
  ensureInternalNetwork: async () => undefined,
  connect: async () => {},
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'builtin-names-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Own keys of a file's top-level object, as JSON.parse gives them (`__proto__` included, as an own key). */
const keysOf = async (path: string, inner?: string) => {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as Record<string, Record<string, unknown>>;
  return Object.keys(inner ? (parsed[inner] as object) : parsed).sort();
};

describe('vPLCs named like the built-ins of a JavaScript object', () => {
  it('load from all four files, are adopted by reconciliation, and persist with every file round-tripping', async () => {
    const paths = storePaths(dir);
    await mkdir(join(dir, 'data'), { recursive: true });
    const clients = fileOf(NAMES.map((n, i) => [n, { ip: `172.19.0.${i + 2}`, name: n }]));
    const vnics = fileOf(NAMES.map((n) => [n, [vnicOf(n)]]));
    const serials = fileOf(NAMES.map((n) => [n, { serial_ports: [portOf(n)] }]));
    const journal = `{"version": 1, "vplcs": ${fileOf(NAMES.map((n) => [n, journalEntryOf(n)]))}}`;
    await writeFile(paths.clients, clients);
    await writeFile(paths.runtimeVnics, vnics);
    await writeFile(paths.serialConfigs, serials);
    await writeFile(paths.journal, journal);

    const { store, loaded } = await StateStore.open(dir, log);
    expect(loaded.corrupt).toEqual([]);

    const records = new Records({ store, loaded, log, leases: new LeaseBook(), inspect: async () => undefined });
    const fake = new FakeOps();
    const supervisor = new Supervisor({ ops: fake.ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
    records.follow(supervisor);
    const summary = await reconcile({
      engine: emptyEngine,
      supervisor,
      ops: { removeContainer: async () => {}, removeNetworks: async () => {} },
      watch: { track: () => {}, refresh: async () => undefined },
      records,
      loaded,
      adopted: new AdoptedRuntimes(),
      log,
    });
    await flush();

    expect(Object.keys(summary.runtimes).sort()).toEqual([...NAMES].sort());
    expect(supervisor.list().map((s) => s.name)).toEqual([...NAMES].sort());
    for (const name of NAMES) {
      expect(Object.hasOwn(summary.runtimes, name)).toBe(true);
      expect(supervisor.status(name)?.spec.vnics).toEqual([vnicOf(name)]);
      expect(records.journalEntry(name)?.spec.name).toBe(name);
    }

    // Something changes, so every file is written again from the records.
    await records.flush();
    records.forget('valueOf');
    await records.flush();
    const rest = NAMES.filter((n) => n !== 'valueOf').sort();
    expect(await keysOf(paths.clients)).toEqual(rest);
    expect(await keysOf(paths.runtimeVnics)).toEqual(rest);
    expect(await keysOf(paths.serialConfigs)).toEqual(rest);
    expect(await keysOf(paths.journal, 'vplcs')).toEqual(rest);
    const written = JSON.parse(await readFile(paths.clients, 'utf8')) as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(written, '__proto__')?.value).toEqual({
      ip: '172.19.0.7',
      name: '__proto__',
    });
    expect(Object.getOwnPropertyDescriptor(written, 'constructor')?.value).toEqual({
      ip: '172.19.0.2',
      name: 'constructor',
    });

    // And the next start reads back what this one wrote.
    supervisor.stop();
    store.close();
    const again = await StateStore.open(dir, log);
    const records2 = new Records({ ...again, log, leases: new LeaseBook(), inspect: async () => undefined });
    for (const name of rest) expect(records2.journalEntry(name)?.spec.vnics).toEqual([vnicOf(name)]);
    expect(records2.journalEntry('valueOf')).toBeUndefined();
    again.store.close();
  });

  it("keeps a container's networks and a network's containers named like built-ins as they are", () => {
    const info = JSON.parse(
      '{"Id": "c1", "Name": "/plc", "Config": {"Labels": {}}, "State": {"Running": true, "Status": "running"}, "HostConfig": {},' +
        ' "NetworkSettings": {"Networks": {"__proto__": {"IPAddress": "10.0.0.2"}, "plc_internal": {"IPAddress": "172.31.0.2"}}}}',
    ) as Dockerode.ContainerInspectInfo;
    const facts = fromInspect(info);
    expect(Object.keys(facts.networks)).toEqual(['__proto__', 'plc_internal']);
    expect(facts.networks.constructor).toBeUndefined();
    expect(facts.internalIp).toBe('172.31.0.2');
    const net = fromNetworkInspect(
      JSON.parse(
        '{"Id": "n1", "Name": "plc_internal", "Driver": "bridge", "Containers": {"__proto__": {"Name": "x"}}}',
      ) as Dockerode.NetworkInspectInfo,
    );
    expect(Object.keys(net.containers)).toEqual(['__proto__']);
  });

  it('finds no MAC for a vNIC named like a built-in when the label does not list it', () => {
    const macs = macsFromLabels({ 'edge.autonomy.macs': JSON.stringify({ lan: '02:00:00:00:00:01' }) });
    for (const name of NAMES) expect(macs[name]).toBeUndefined();
    const listed = macsFromLabels({ 'edge.autonomy.macs': '{"__proto__": "02:00:00:00:00:02"}' });
    expect(Object.keys(listed)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(listed, '__proto__')?.value).toBe('02:00:00:00:00:02');
  });
});

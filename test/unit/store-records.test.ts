import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseBook } from '../../src/actors/network/leases.js';
import { parseFaultPoint, Records } from '../../src/actors/state/records.js';
import { type Admission, Supervisor } from '../../src/actors/vplc/supervisor.js';
import { storePaths } from '../../src/io/store/referenceFiles.js';
import { StateStore } from '../../src/io/store/stateStore.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { FakeOps, flush } from '../model/support/fakeOps.js';
import { waitFor } from '../support/wait.js';

const log = pino({ level: 'silent' });
const STARTED = '2026-01-20T10:00:00.000Z';
const spec: VplcSpec = {
  name: 'plc-1',
  vnics: [
    { name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp', dns: ['8.8.8.8'], vendor_hint: 'kept' },
    { name: 'field', parent_interface: 'eth1', network_mode: 'static', ip: '10.0.0.5', subnet: '10.0.0.0/24' },
  ],
  serials: [{ name: 'rtu', device_id: 'usb-FTDI_A1', container_path: '/dev/modbus0', baud_rate: 9600 }],
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'records-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(opts: { faultKillAt?: string; kill?: () => void } = {}) {
  const { store, loaded } = await StateStore.open(dir, log);
  const leases = new LeaseBook();
  const records = new Records({
    store,
    loaded,
    log,
    leases,
    inspect: async () => ({
      networks: {
        'macvlan_eth0_192.168.1.0_24': { mac: '02:5a:10:33:9c:e1' },
        'macvlan_eth1_10.0.0.0_24': { mac: '02:00:00:00:00:05' },
        'plc-1_internal': { mac: '02:42:ac:13:00:02' },
      },
    }),
    faultKillAt: parseFaultPoint(opts.faultKillAt),
    kill: opts.kill,
  });
  const fake = new FakeOps();
  const sup = new Supervisor({ ops: fake.ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
  sup.reconciled();
  records.follow(sup);
  return { store, records, leases, fake, sup };
}

async function settle(fake: FakeOps, op: Parameters<FakeOps['only']>[0], output?: unknown) {
  fake.only(op, 'plc-1').resolve(output);
  await flush();
}

async function runCreate(fake: FakeOps) {
  await settle(fake, 'prepare');
  await settle(fake, 'createNetworks');
  await settle(fake, 'createContainer', { containerId: 'id-1' });
  await settle(fake, 'startContainer', { containerId: 'id-1', startedAt: STARTED });
  await settle(fake, 'attachAgent');
  await settle(fake, 'startDhcp');
}

const read = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
const accepted = (a: Admission) => {
  if (!a.accepted) throw new Error(a.reason);
  return a.done;
};

describe('Records', () => {
  it("journals every step of a create and writes the old agent's files once the runtime exists", async () => {
    const { store, fake, sup, records } = await setup();
    const paths = storePaths(dir);
    const done = accepted(sup.create(spec));
    await settle(fake, 'prepare');
    await store.flush();
    expect((await read(paths.journal)).vplcs['plc-1']).toMatchObject({
      operation: 'create',
      state: 'creating.networks',
      desired: 'running',
      spec,
    });
    await settle(fake, 'createNetworks');
    await settle(fake, 'createContainer', { containerId: 'id-1' });
    await settle(fake, 'startContainer', { containerId: 'id-1', startedAt: STARTED });
    records.onInternalAddress('plc-1', '172.19.0.2');
    await settle(fake, 'attachAgent');
    await settle(fake, 'startDhcp');
    await done;
    await waitFor(async () => {
      await records.flush();
      return (await read(paths.runtimeVnics))['plc-1'][0].mac_address === '02:5a:10:33:9c:e1';
    });
    expect(await readFile(paths.clients, 'utf8')).toBe(
      '{\n    "plc-1": {\n        "ip": "172.19.0.2",\n        "name": "plc-1"\n    }\n}',
    );
    expect((await read(paths.runtimeVnics))['plc-1']).toEqual([
      {
        ...spec.vnics[0],
        mac_address: '02:5a:10:33:9c:e1',
        docker_network_name: 'macvlan_eth0_192.168.1.0_24',
      },
      { ...spec.vnics[1], mac_address: '02:00:00:00:00:05', docker_network_name: 'macvlan_eth1_10.0.0.0_24' },
    ]);
    expect(await read(paths.serialConfigs)).toEqual({
      'plc-1': {
        serial_ports: [
          {
            name: 'rtu',
            device_id: 'usb-FTDI_A1',
            container_path: '/dev/modbus0',
            status: 'disconnected',
            current_host_path: null,
            major: null,
            minor: null,
          },
        ],
      },
    });
    expect((await read(paths.journal)).vplcs['plc-1']).toMatchObject({ operation: null, state: 'running' });
    sup.stop();
  });

  it('mirrors DHCP leases into runtime_vnics.json and forgets everything on delete', async () => {
    const { store, fake, sup, records, leases } = await setup();
    const paths = storePaths(dir);
    const created = accepted(sup.create(spec));
    await runCreate(fake);
    await created;
    leases.set('plc-1', 'lan', {
      ip: '192.168.1.77',
      prefix: 24,
      gateway: '192.168.1.1',
      dns: ['192.168.1.1', '8.8.8.8'],
      at: STARTED,
    });
    await waitFor(async () => {
      records.onLease('plc-1', 'lan');
      await store.flush();
      return (await read(paths.runtimeVnics))['plc-1'][0].dhcp_ip === '192.168.1.77';
    });
    expect((await read(paths.runtimeVnics))['plc-1'][0]).toMatchObject({
      dhcp_ip: '192.168.1.77',
      dhcp_gateway: '192.168.1.1',
      dhcp_dns: '192.168.1.1 8.8.8.8',
    });

    const deleted = accepted(sup.command('plc-1', 'DELETE'));
    for (const op of ['stopDhcp', 'stopContainer', 'removeContainer', 'removeNetworks'] as const)
      await settle(fake, op);
    await deleted;
    await store.flush();
    expect(await read(paths.clients)).toEqual({});
    expect(await read(paths.runtimeVnics)).toEqual({});
    expect(await read(paths.serialConfigs)).toEqual({});
    expect((await read(paths.journal)).vplcs).toEqual({});
    sup.stop();
  });

  it('forgets a create that failed and was rolled back', async () => {
    const { store, fake, sup } = await setup();
    const done = accepted(sup.create(spec));
    await settle(fake, 'prepare');
    fake.only('createNetworks', 'plc-1').reject(new Error('no such parent'));
    await flush();
    await settle(fake, 'removeContainer');
    await settle(fake, 'removeNetworks');
    expect(await done).toMatchObject({ success: false });
    await store.flush();
    expect((await read(storePaths(dir).journal)).vplcs).toEqual({});
    sup.stop();
  });

  it('TEST HOOK: kills only after the journal durably holds the named step', async () => {
    let killedWith: unknown;
    const { fake, sup } = await setup({
      faultKillAt: 'create:container@plc-1',
      kill: () => {
        killedWith = 'kill';
      },
    });
    accepted(sup.create(spec));
    await settle(fake, 'prepare');
    expect(killedWith).toBeUndefined();
    await settle(fake, 'createNetworks');
    await waitFor(() => killedWith === 'kill', { message: 'the fault hook' });
    const journal = await read(storePaths(dir).journal);
    expect(journal.vplcs['plc-1'].state).toBe('creating.container');
    sup.stop();
  });

  it('rejects a malformed fault point', () => {
    expect(() => parseFaultPoint('create')).toThrow(/ORCH_FAULT_KILL_AT/);
    expect(parseFaultPoint('delete:remove')).toEqual({ operation: 'delete', step: 'remove', vplc: null });
  });
});

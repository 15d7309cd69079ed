import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AdoptedRuntimes } from '../../src/actors/boot/adoptedRuntimes.js';
import { type ReconcileEngine, reconcile } from '../../src/actors/boot/reconcile.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import type { JournalEntry } from '../../src/io/store/journal.js';
import type { LoadedState } from '../../src/io/store/stateStore.js';
import { FakeOps } from '../model/support/fakeOps.js';

const log = pino({ level: 'silent' });

function entry(name: string, operation: string, state: string): JournalEntry {
  return {
    spec: { name, vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' }], serials: [] },
    desired: 'running',
    operation,
    state,
    failure: null,
    interruptions: 0,
    updatedAt: '2026-01-20T10:00:00.000Z',
  };
}

/** An engine with no containers and no networks: what the journal says is all there is. */
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

describe('boot reconciliation and the supervisor', () => {
  it('finishes interrupted operations while the cloud is still refused, then lets the supervisor serve', async () => {
    const fake = new FakeOps();
    const sup = new Supervisor({ ops: fake.ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
    const loaded: LoadedState = {
      clients: new Map(),
      runtimeVnics: new Map(),
      serialConfigs: new Map(),
      journal: {
        version: 1,
        vplcs: new Map([
          ['plc-1', entry('plc-1', 'create', 'creating.networks')],
          ['plc-2', entry('plc-2', 'delete', 'deleting')],
        ]),
      },
      corrupt: [],
      missing: [],
    };
    const modes: string[] = [];
    const summary = await reconcile({
      engine: emptyEngine,
      supervisor: {
        adopt: (spec, observed) => sup.adopt(spec, observed),
        create: (spec, by) => {
          modes.push(sup.mode);
          return sup.create(spec, by);
        },
        command: (name, cmd, by) => {
          modes.push(sup.mode);
          return sup.command(name, cmd, by);
        },
        reconciled: () => sup.reconciled(),
      },
      ops: { removeContainer: async () => {}, removeNetworks: async () => {} },
      watch: { track: () => {}, refresh: async () => undefined },
      records: { journalEntry: (name) => loaded.journal.vplcs.get(name), noteInterrupted: () => 1, forget: () => {} },
      loaded,
      adopted: new AdoptedRuntimes(),
      log,
    });
    expect(summary.runtimes).toMatchObject({
      'plc-1': { action: 'create.restarted' },
      'plc-2': { action: 'delete.resumed' },
    });
    expect(modes).toEqual(['reconciling', 'reconciling']);
    expect(sup.status('plc-1')?.phase).toBe('creating');
    expect(sup.status('plc-2')?.phase).toBe('deleting');
    expect(sup.mode).toBe('serving');
    sup.stop();
  });
});

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerWatch } from '../../src/actors/vplc/containerWatch.js';
import { LeaseBook } from '../../src/actors/network/leases.js';
import { AdoptedRuntimes } from '../../src/actors/boot/adoptedRuntimes.js';
import { FactGate } from '../../src/actors/boot/factGate.js';
import { reconcile } from '../../src/actors/boot/reconcile.js';
import { Records } from '../../src/actors/state/records.js';
import { Supervisor, type VplcFact } from '../../src/actors/vplc/supervisor.js';
import { createVplcOps } from '../../src/actors/vplc/ops.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { emptyJournal, formatJournal } from '../../src/io/store/journal.js';
import { storePaths } from '../../src/io/store/referenceFiles.js';
import { StateStore } from '../../src/io/store/stateStore.js';
import { writeFileAtomic } from '../../src/io/store/atomicFile.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureVeth, removeTestObjects, removeVeth } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Boot reconciliation on the real engine, in process, for the cases the end-to-end tests do not reach: a power
 * cut (runtimes exited while the agent was away), a runtime the cloud had stopped, a create that keeps being
 * interrupted, and networks we created that nobody needs.
 */
const sh = promisify(execFile);
const docker = await dockerOrSkip();
const log = pino({ level: 'silent' });
const SOCKET = '/var/run/docker.sock';
const PARENT = 't9p3';
const SUBNET = '10.239.4';

const spec = (name: string, host: number): VplcSpec => ({
  name,
  vnics: [
    {
      name: 'eth0',
      parent_interface: PARENT,
      network_mode: 'static',
      ip: `${SUBNET}.${host}`,
      subnet: `${SUBNET}.0/24`,
      gateway: `${SUBNET}.1`,
    },
  ],
  serials: [],
});

interface InProcessAgent {
  supervisor: Supervisor;
  records: Records;
  summary: Awaited<ReturnType<typeof reconcile>>;
  stop(): Promise<void>;
}

/** The agent's wiring (agent.ts) minus the cloud and the sidecar. */
async function boot(dataDir: string, image: string): Promise<InProcessAgent> {
  const engine = new DockerEngine({ address: { socketPath: SOCKET }, log, selfContainer: null });
  const watch = new ContainerWatch({ engine, log, sampleIntervalMs: 1000 });
  const { store, loaded } = await StateStore.open(dataDir, log);
  const records = new Records({
    store,
    loaded,
    log,
    leases: new LeaseBook(),
    inspect: (n) => engine.inspectContainer(n),
  });
  const adopted = new AdoptedRuntimes();
  const ops = createVplcOps({
    engine,
    image,
    ulimits: [],
    interfaces: { get: () => undefined },
    dhcp: { start: async () => {}, stop: async () => {} },
    log,
    isAdopted: (n) => adopted.has(n),
  });
  const supervisor = new Supervisor({ ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
  records.follow(supervisor);
  const gate = new FactGate<VplcFact>((name, fact) => supervisor.notify(name, fact));
  watch.onFact((name, fact) => gate.push(name, fact));
  await watch.start();
  const summary = await reconcile({ engine, supervisor, ops, watch, records, loaded, adopted, log });
  gate.open();
  return {
    supervisor,
    records,
    summary,
    async stop() {
      supervisor.stop();
      await watch.stop();
      await records.flush();
      store.close();
    },
  };
}

describe.skipIf(!docker)('boot reconciliation on a real engine', () => {
  let image: string;
  let dataDir: string;
  let agent: InProcessAgent | undefined;
  const dockerCli = async (...args: string[]) => (await sh('/usr/bin/docker', args)).stdout.trim();
  const running = async (name: string) => (await dockerCli('inspect', '-f', '{{.State.Running}}', name)) === 'true';
  const networkExists = async (name: string) =>
    (await dockerCli('network', 'ls', '--format', '{{.Name}}')).split('\n').includes(name);

  beforeAll(async () => {
    image = await ensureStandinImage();
    await removeTestObjects(SOCKET, 't9-i', ['t9-i', `macvlan_${PARENT}_`]);
    await ensureVeth(PARENT, 't9q3');
    dataDir = await mkdtemp(join(tmpdir(), 't9-reconcile-'));
  }, 300_000);

  afterAll(async () => {
    await agent?.stop();
    await removeTestObjects(SOCKET, 't9-i', ['t9-i', `macvlan_${PARENT}_`]);
    await removeVeth(PARENT);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('starts again what should run after a power cut, and leaves stopped what the cloud stopped', async () => {
    agent = await boot(dataDir, image);
    for (const [name, host] of [
      ['t9-i-run', 10],
      ['t9-i-stop', 11],
    ] as const) {
      const admission = agent.supervisor.create(spec(name, host));
      if (!admission.accepted) throw new Error(admission.reason);
      expect(await admission.done).toEqual({ success: true });
    }
    const stop = agent.supervisor.command('t9-i-stop', 'STOP');
    if (!stop.accepted) throw new Error(stop.reason);
    expect(await stop.done).toEqual({ success: true });
    await agent.stop();

    // The host lost power: every container exited and, with restart policy no, the engine starts none of them.
    await dockerCli('stop', '-t', '1', 't9-i-run');
    agent = await boot(dataDir, image);
    expect(agent.summary.runtimes['t9-i-run']).toMatchObject({ found: 'stopped', action: 'start.resumed' });
    expect(agent.summary.runtimes['t9-i-stop']).toMatchObject({ found: 'stopped', action: 'adopted' });
    await waitFor(() => agent?.supervisor.status('t9-i-run')?.state === 'running', {
      timeoutMs: 30_000,
      message: 't9-i-run running again',
    });
    expect(await running('t9-i-run')).toBe(true);
    expect(agent.supervisor.status('t9-i-stop')?.state).toBe('stopped');
    expect(await running('t9-i-stop')).toBe(false);
    await agent.stop();
    agent = undefined;
  }, 120_000);

  it('rolls back a create that was interrupted too often, and removes networks nobody needs', async () => {
    const engine = new DockerEngine({ address: { socketPath: SOCKET }, log, selfContainer: null });
    // A create the journal says was cut short three times already, with its internal network made.
    await engine.ensureInternalNetwork('t9-i-poison');
    // An internal network of ours whose runtime nobody knows (a create cut short before it was journaled).
    await engine.ensureInternalNetwork('t9-i-ghost');
    const paths = storePaths(dataDir);
    const journal = JSON.parse(await readFile(paths.journal, 'utf8'));
    journal.vplcs['t9-i-poison'] = {
      spec: spec('t9-i-poison', 12),
      desired: 'running',
      operation: 'create',
      state: 'creating.container',
      failure: null,
      interruptions: 3,
      updatedAt: new Date().toISOString(),
    };
    await writeFileAtomic(
      paths.journal,
      formatJournal({ ...emptyJournal(), vplcs: new Map(Object.entries(journal.vplcs)) }),
    );

    agent = await boot(dataDir, image);
    expect(agent.summary.runtimes['t9-i-poison']).toMatchObject({ found: 'missing', action: 'create.rolled_back' });
    expect(agent.summary.removedNetworks).toContain('t9-i-ghost_internal');
    expect(agent.supervisor.status('t9-i-poison')).toBeUndefined();
    expect(await networkExists('t9-i-poison_internal')).toBe(false);
    expect(await networkExists('t9-i-ghost_internal')).toBe(false);
    await agent.records.flush();
    // (Only ours: on a shared engine every labelled runtime would be adopted by this agent.)
    const journaled = Object.keys(JSON.parse(await readFile(paths.journal, 'utf8')).vplcs);
    expect(journaled.filter((n) => n.startsWith('t9-i')).sort()).toEqual(['t9-i-run', 't9-i-stop']);
    // The runtimes that were there are untouched.
    expect(agent.summary.runtimes['t9-i-run']).toMatchObject({ found: 'running', action: 'adopted' });
    expect(agent.summary.runtimes['t9-i-stop']).toMatchObject({ found: 'stopped', action: 'adopted' });
  }, 120_000);
});

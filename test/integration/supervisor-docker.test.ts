import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerWatch } from '../../src/actors/vplc/containerWatch.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import { createVplcOps } from '../../src/actors/vplc/ops.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { ensureVeth, removeTestObjects, removeVeth, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * The lifecycle machines driving a real engine: the supervisor with the Docker-backed VplcOps and the
 * container watch feeding it facts, on every engine the machine has (API 1.41 and ≥ 1.44).
 */
const sh = promisify(execFile);
const engines = await testEngines();
const log = pino({ level: 'silent' });

it('has at least one Docker engine to test against (or says why not)', () => {
  if (engines.length === 0) console.warn('[docker] no engine reachable: supervisor/Docker tests skipped');
  expect(Array.isArray(engines)).toBe(true);
});

describe.each(engines)('supervisor on Docker $label (API $apiVersion)', (target) => {
  const tag = target.label.replace('.', '');
  const prefix = `t8s${tag}`;
  const parent = `t8p${tag}`;
  const name = `${prefix}-plc`;
  // Each engine gets its own parent and subnet: two engines must not share a MACVLAN parent.
  const net = target.label === '26' ? '10.232.2' : '10.232.1';
  const docker = (...args: string[]) => sh('/usr/bin/docker', ['-H', `unix://${target.socketPath}`, ...args]);
  let supervisor: Supervisor;
  let watch: ContainerWatch;

  const spec = (): VplcSpec => ({
    name,
    vnics: [
      {
        name: 'eth0',
        parent_interface: parent,
        network_mode: 'static',
        ip: `${net}.50`,
        subnet: `${net}.0/24`,
        gateway: `${net}.1`,
        mac: '02:42:0a:00:00:32',
      },
    ],
    serials: [],
  });
  const phase = () => supervisor.status(name)?.phase;

  beforeAll(async () => {
    await removeTestObjects(target.socketPath, prefix, [`${prefix}`, `macvlan_${parent}_`]);
    await ensureVeth(parent, `t8q${tag}`);
    const image = await ensureStandinImage(target.socketPath);
    const engine = new DockerEngine({ address: { socketPath: target.socketPath }, log, selfContainer: null });
    watch = new ContainerWatch({ engine, log, sampleIntervalMs: 1000 });
    const ops = createVplcOps({
      engine,
      image,
      ulimits: [],
      interfaces: { get: () => undefined },
      dhcp: { start: async () => {}, stop: async () => {} },
      log,
    });
    supervisor = new Supervisor({ ops, log, restartBudget: { max: 5, windowMs: 600_000 } });
    // Nothing to take over on this engine: the supervisor serves at once.
    supervisor.reconciled();
    watch.onFact((n, fact) => supervisor.notify(n, fact));
    await watch.start();
  }, 300_000);

  afterAll(async () => {
    supervisor?.stop();
    await watch?.stop();
    await removeTestObjects(target.socketPath, prefix, [`${prefix}`, `macvlan_${parent}_`]);
    await removeVeth(parent);
  }, 60_000);

  it('creates a vPLC that runs, with its networks and labels', async () => {
    const admission = supervisor.create(spec());
    if (!admission.accepted) throw new Error(admission.reason);
    expect(await admission.done).toEqual({ success: true });
    expect(phase()).toBe('running');
    expect(supervisor.status(name)?.containerId).toBeTruthy();
    const { stdout } = await docker(
      'inspect',
      name,
      '--format',
      '{{json .Config.Labels}} {{.HostConfig.RestartPolicy.Name}}',
    );
    expect(stdout).toContain('"edge.autonomy.managed":"true"');
    expect(stdout.trim().endsWith(' no')).toBe(true);
  }, 120_000);

  it('stops, starts and restarts through the supervisor', async () => {
    for (const [cmd, expected] of [
      ['STOP', 'stopped'],
      ['START', 'running'],
      ['RESTART', 'running'],
    ] as const) {
      const admission = supervisor.command(name, cmd);
      if (!admission.accepted) throw new Error(admission.reason);
      expect(await admission.done).toEqual({ success: true });
      expect(phase()).toBe(expected);
    }
    const { stdout } = await docker('inspect', name, '--format', '{{.State.Running}}');
    expect(stdout.trim()).toBe('true');
  }, 120_000);

  it('notices a container killed from outside and restarts it', async () => {
    const before = supervisor.status(name)!.restartCount;
    await docker('kill', name);
    await waitFor(() => supervisor.status(name)!.restartCount > before && phase() === 'running', {
      timeoutMs: 30_000,
      message: 'the watchdog restart',
    });
    const { stdout } = await docker('inspect', name, '--format', '{{.State.Running}}');
    expect(stdout.trim()).toBe('true');
  }, 60_000);

  it('reports a container removed from outside', async () => {
    await docker('rm', '-f', name);
    await waitFor(() => phase() === 'failed', { timeoutMs: 30_000, message: 'failed after an outside removal' });
    expect(supervisor.status(name)?.failure?.reason).toMatch(/removed/i);
  }, 60_000);

  it('deletes it and leaves no network behind', async () => {
    const admission = supervisor.command(name, 'DELETE');
    if (!admission.accepted) throw new Error(admission.reason);
    expect(await admission.done).toEqual({ success: true });
    expect(supervisor.status(name)).toBeUndefined();
    const { stdout } = await docker('network', 'ls', '--format', '{{.Name}}');
    expect(stdout.split('\n').filter((n) => n.includes(parent) || n.startsWith(prefix))).toEqual([]);
  }, 60_000);
});

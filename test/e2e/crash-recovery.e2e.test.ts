import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, ensureBuilt, startAgentProcess, agentArgs } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureVeth, removeTestObjects, removeVeth } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * kill -9 of the built agent at every step of a create and of a delete (the journal's test hook
 * ORCH_FAULT_KILL_AT fires right after the step is durably journaled), then a restart on the same data dir:
 * every runtime must end consistent — an interrupted create completed and running, an interrupted delete fully
 * removed — with no orphaned container or network, and files that are valid and agree with Docker.
 */
const sh = promisify(execFile);
const docker = await dockerOrSkip();
const DOCKER = '/usr/bin/docker';
const PARENT = 't9p0';
const SUBNET = '10.239.1';
const MACVLAN = `macvlan_${PARENT}_${SUBNET}.0_24`;
const CREATE_STEPS = ['image', 'networks', 'container', 'start', 'attach', 'dhcp'] as const;
const DELETE_STEPS = ['releaseDhcp', 'stop', 'remove', 'networks'] as const;

type Reply = Record<string, unknown>;

describe.skipIf(!docker)('the agent killed at every step of create and delete', () => {
  let pki: TestPki;
  let cloud: TestCloud;
  let image: string;
  let dataDir: string;
  let agent: AgentProcess | undefined;
  let nextIp = 10;
  let correlation = 1000;

  const ask = (topic: string, payload: Record<string, unknown>, timeoutMs = 10_000) =>
    cloud.request(topic, { correlation_id: correlation++, ...payload }, timeoutMs) as Promise<Reply>;
  const status = (name: string) => ask('get_device_status', { device_id: name });
  const inspect = async (name: string) => {
    const { stdout } = await sh(DOCKER, ['inspect', name]);
    return JSON.parse(stdout)[0] as {
      State: { Running: boolean };
      HostConfig: { RestartPolicy: { Name: string } };
      NetworkSettings: { Networks: Record<string, { IPAddress: string; MacAddress: string }> };
    };
  };
  const names = async (kind: 'ps' | 'network') => {
    const args = kind === 'ps' ? ['ps', '-a', '--format', '{{.Names}}'] : ['network', 'ls', '--format', '{{.Name}}'];
    const { stdout } = await sh(DOCKER, args);
    return stdout
      .split('\n')
      .filter((n) => n.startsWith('t9-'))
      .sort();
  };

  async function start(fault?: string): Promise<AgentProcess> {
    if (cloud.connectionCount() > 0) await cloud.waitForDisconnect(15_000);
    const env: Record<string, string> = { ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock' };
    if (fault) env.ORCH_FAULT_KILL_AT = fault;
    const args = agentArgs({ cloudUrl: cloud.url, pki, image, parentInterfaces: [PARENT] });
    const started = await startAgentProcess(args, env, { dataDir });
    await waitFor(() => cloud.connectionCount() === 1, {
      timeoutMs: 60_000,
      message: `agent connection; output:\n${started.output().slice(-3000)}`,
    });
    return started;
  }

  /** Waits for the hook's SIGKILL and returns how the process ended. */
  async function killed(proc: AgentProcess): Promise<string | null> {
    await Promise.race([
      proc.exited,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`agent was not killed; output:\n${proc.output().slice(-3000)}`)), 60_000),
      ),
    ]);
    return proc.child.signalCode;
  }

  function createPayload(name: string): Record<string, unknown> {
    const ip = `${SUBNET}.${nextIp++}`;
    return {
      container_name: name,
      vnic_configs: [
        {
          name: 'eth0',
          parent_interface: PARENT,
          network_mode: 'static',
          ip,
          subnet: `${SUBNET}.0/24`,
          gateway: `${SUBNET}.1`,
          vendor_extra: { kept: true },
        },
      ],
    };
  }

  /** Our keys only: while other test files run, this agent adopts their labelled runtimes too (as it must). */
  const ours = (record: Record<string, unknown>) =>
    Object.keys(record)
      .filter((k) => k.startsWith('t9-'))
      .sort();
  const isRunning = (s: Reply) => s.status === 'success' && s.is_running === true && s.state === 'running';

  /** An interrupted create, after the restart: completed, its container running. */
  async function createdAgain(name: string): Promise<void> {
    await waitFor(async () => isRunning(await status(name)), {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: `${name} running after restart`,
    });
    expect((await inspect(name)).State.Running).toBe(true);
  }

  /** An interrupted delete, after the restart: nothing of the runtime is left. */
  async function deletedAgain(name: string): Promise<void> {
    await waitFor(async () => (await status(name)).status === 'not_found', {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: `${name} deleted after restart`,
    });
    expect(await names('ps')).not.toContain(name);
    expect(await names('network')).not.toContain(`${name}_internal`);
  }

  beforeAll(async () => {
    await ensureBuilt();
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    image = await ensureStandinImage();
    await removeTestObjects('/var/run/docker.sock', 't9-', ['t9-', `macvlan_${PARENT}_`]);
    await ensureVeth(PARENT, 't9q0');
    dataDir = await mkdtemp(join(tmpdir(), 't9-crash-'));
  }, 300_000);

  afterAll(async () => {
    await agent?.stop();
    await cloud?.close();
    await pki?.cleanup();
    await removeTestObjects('/var/run/docker.sock', 't9-', ['t9-', `macvlan_${PARENT}_`]);
    await removeVeth(PARENT);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('finishes every interrupted create and delete after a restart, leaving files that agree with Docker', async () => {
    const deleteNames = DELETE_STEPS.map((_, i) => `t9-d${i}`);
    const createNames = CREATE_STEPS.map((_, i) => `t9-c${i}`);

    // Runtimes to delete later, created by an agent that is not interrupted.
    agent = await start();
    for (const name of deleteNames)
      expect(await ask('create_new_runtime', createPayload(name))).toMatchObject({ status: 'creating' });
    for (const name of deleteNames) {
      await waitFor(async () => isRunning(await status(name)), {
        timeoutMs: 60_000,
        intervalMs: 200,
        message: `${name} running`,
      });
    }
    await agent.stop();

    // Each restart first finishes what the previous kill interrupted, then is itself killed at the next step.
    const kills: string[] = [];
    let interrupted: (() => Promise<void>) | undefined;
    for (const [i, step] of CREATE_STEPS.entries()) {
      const name = createNames[i]!;
      agent = await start(`create:${step}@${name}`);
      await interrupted?.();
      expect(await ask('create_new_runtime', createPayload(name))).toMatchObject({ status: 'creating' });
      kills.push(`${step}:${await killed(agent)}`);
      interrupted = () => createdAgain(name);
    }
    for (const [i, step] of DELETE_STEPS.entries()) {
      const name = deleteNames[i]!;
      agent = await start(`delete:${step}@${name}`);
      await interrupted?.();
      await waitFor(async () => isRunning(await status(name)), {
        timeoutMs: 60_000,
        intervalMs: 200,
        message: `${name} running before delete`,
      });
      expect(await ask('delete_device', { device_id: name })).toMatchObject({ status: 'deleting' });
      kills.push(`${step}:${await killed(agent)}`);
      interrupted = () => deletedAgain(name);
    }
    expect(kills).toEqual([...CREATE_STEPS, ...DELETE_STEPS].map((s) => `${s}:SIGKILL`));

    // A corrupt file is set aside and rebuilt from Docker labels, never a crash.
    await writeFile(join(dataDir, 'data', 'clients.json'), '{\n    "t9-c0": {\n        "ip": "10.');

    agent = await start();
    await interrupted?.();
    for (const name of createNames) {
      await waitFor(async () => isRunning(await status(name)), {
        timeoutMs: 90_000,
        intervalMs: 250,
        message: `${name} running after restart`,
      });
    }
    for (const name of deleteNames) {
      await waitFor(async () => (await status(name)).status === 'not_found', {
        timeoutMs: 60_000,
        intervalMs: 250,
        message: `${name} deleted after restart`,
      });
    }

    // Docker: exactly the created runtimes, running, restart policy no; no orphaned container or network.
    expect(await names('ps')).toEqual(createNames);
    expect(await names('network')).toEqual(createNames.map((n) => `${n}_internal`));
    const facts = Object.fromEntries(await Promise.all(createNames.map(async (n) => [n, await inspect(n)] as const)));
    for (const name of createNames) {
      expect(facts[name]!.State.Running).toBe(true);
      expect(facts[name]!.HostConfig.RestartPolicy.Name).toBe('no');
    }

    // Files: valid, in the old agent's formats, and saying what Docker says.
    await waitFor(
      async () => {
        const clients = JSON.parse(await readFile(join(dataDir, 'data', 'clients.json'), 'utf8'));
        expect(ours(clients)).toEqual(createNames);
        for (const name of createNames) {
          expect(clients[name]).toEqual({
            ip: facts[name]!.NetworkSettings.Networks[`${name}_internal`]!.IPAddress,
            name,
          });
        }
        const vnics = JSON.parse(await readFile(join(dataDir, 'runtime_vnics.json'), 'utf8'));
        expect(ours(vnics)).toEqual(createNames);
        for (const name of createNames) {
          expect(vnics[name]).toEqual([
            expect.objectContaining({
              name: 'eth0',
              vendor_extra: { kept: true },
              docker_network_name: MACVLAN,
              mac_address: facts[name]!.NetworkSettings.Networks[MACVLAN]!.MacAddress,
            }),
          ]);
        }
        const journal = JSON.parse(await readFile(join(dataDir, 'data', 'journal.json'), 'utf8'));
        expect(ours(journal.vplcs)).toEqual(createNames);
        for (const name of createNames)
          expect(journal.vplcs[name]).toMatchObject({ operation: null, state: 'running' });
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 250, message: 'files agreeing with Docker' },
    );
    const clientsText = await readFile(join(dataDir, 'data', 'clients.json'), 'utf8');
    expect(clientsText).toBe(JSON.stringify(JSON.parse(clientsText), null, 4));
    const vnicsText = await readFile(join(dataDir, 'runtime_vnics.json'), 'utf8');
    expect(vnicsText).toBe(JSON.stringify(JSON.parse(vnicsText), null, 2));
    expect(ours(JSON.parse(await readFile(join(dataDir, 'data', 'serial_configs.json'), 'utf8')))).toEqual([]);
    const setAside = (await readdir(join(dataDir, 'data'))).filter((f) => f.startsWith('clients.json.corrupt-'));
    expect(setAside).toHaveLength(1);

    // The runtimes are fully usable: each can be deleted, and then nothing of them is left.
    for (const name of createNames)
      expect(await ask('delete_device', { device_id: name })).toMatchObject({ status: 'deleting' });
    for (const name of createNames) {
      await waitFor(async () => (await status(name)).status === 'not_found', {
        timeoutMs: 60_000,
        intervalMs: 250,
        message: `${name} deleted`,
      });
    }
    expect(await names('ps')).toEqual([]);
    expect(await names('network')).toEqual([]);
    const { stdout } = await sh(DOCKER, ['network', 'ls', '--format', '{{.Name}}']);
    expect(stdout.split('\n')).not.toContain(MACVLAN);
  }, 400_000);
});

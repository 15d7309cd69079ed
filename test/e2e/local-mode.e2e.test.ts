import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Local mode as a new user meets it: a fresh clone of this repository, the README's first command verbatim
 * (`npm ci && npm start`), no certificates, no cloud. Then ctl drives a vPLC on the real dockerd through the
 * embedded endpoint, and, with the Docker socket pointed at nothing, the agent still starts and says why it cannot
 * serve what needs Docker.
 */

const sh = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
let work: string;
let clone: string;

async function readmeCommand(tag: string): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const line = readme.split('\n').find((l) => l.trimEnd().endsWith(`# ${tag}`));
  if (!line) throw new Error(`README.md has no command tagged '# ${tag}'`);
  return line.slice(0, line.lastIndexOf('#')).trim();
}

interface Started {
  child: ChildProcess;
  output: () => string;
  stderr: () => string;
  stop(): Promise<number | null>;
}

/** Runs `command` in the clone as a new user would, in its own process group (npm starts node below it). */
function startInClone(command: string, env: Record<string, string>): Started {
  let output = '';
  let stderr = '';
  const child = spawn('sh', ['-c', command], {
    cwd: clone,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(-child.pid!, 'SIGTERM');
        const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 15_000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return child.exitCode;
    },
  };
}

interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ctlIn(env: Record<string, string>) {
  return (...args: string[]): Promise<CtlResult> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(clone, 'dist/src/main.js'), 'ctl', ...args],
        { cwd: clone, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 120_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lm-e2e-local-'));
  clone = join(work, 'clone');
  await sh('git', ['clone', '--quiet', root, clone], { timeout: 120_000 });
}, 180_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A home without ~/.mtls, so the automatic choice is local mode whatever this machine's root has; npm's cache kept. */
function userEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOME: join(work, 'home'),
    npm_config_cache: join(process.env.HOME ?? '/root', '.npm'),
    ORCH_DATA_DIR: dataDir,
    ...extra,
  };
}

const docker = await dockerOrSkip();

describe.skipIf(!docker)('local mode from a fresh clone, driven by ctl on the real dockerd', () => {
  const name = 'lm-e2e-plc';
  const parent = 'lme2e0';
  const network = 'macvlan_lme2e0_10.237.0.0_24';
  let agent: Started;
  let env: Record<string, string>;
  let ctl: ReturnType<typeof ctlIn>;

  beforeAll(async () => {
    const image = await ensureStandinImage();
    await sh('ip', ['link', 'del', parent]).catch(() => {});
    await sh('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', 'lme2e1']);
    await sh('ip', ['link', 'set', parent, 'up']);
    await sh('ip', ['link', 'set', 'lme2e1', 'up']);
    const dataDir = join(work, 'data');
    // This machine's dockerd cannot grant the runtime's rtprio/memlock, and no registry is reachable.
    env = userEnv(dataDir, {
      ORCH_RUNTIME_ULIMITS: 'none',
      ORCH_RUNTIME_IMAGE: image,
      ORCH_NETMON_SOCKET: join(work, 'no-sidecar.sock'),
      // No sidecar here to say which interfaces are host NICs, and the parent is a veth: allow it by name.
      ORCH_PARENT_INTERFACES: parent,
    });
    ctl = ctlIn({ HOME: env.HOME!, ORCH_DATA_DIR: dataDir });
    const command = await readmeCommand('start');
    expect(command).toBe('npm ci && npm start');
    agent = startInClone(command, env);
    await waitFor(() => agent.stderr().includes('running in local mode') || agent.child.exitCode !== null, {
      timeoutMs: 300_000,
      intervalMs: 250,
      message: 'the agent to come up in local mode',
    });
    expect(agent.child.exitCode, agent.output()).toBeNull();
  }, 360_000);

  afterAll(async () => {
    await agent?.stop();
    await sh('/usr/bin/docker', ['rm', '-f', name]).catch(() => {});
    await sh('/usr/bin/docker', ['network', 'rm', `${name}_internal`, network]).catch(() => {});
    await sh('ip', ['link', 'del', parent]).catch(() => {});
  });

  it('says it runs in local mode, where its endpoint is and how to drive it', () => {
    const banner = agent.stderr();
    expect(banner).toContain(`no client certificate at ${join(work, 'home', '.mtls', 'client.crt')}`);
    expect(banner).toMatch(/endpoint {2}https:\/\/127\.0\.0\.1:\d+ \(mTLS/);
    expect(banner).toContain('docker    unix:///var/run/docker.sock (reachable)');
    expect(banner).toContain(`node dist/src/main.js ctl --data-dir ${join(work, 'data')} list`);
  });

  it('creates, shows, stops, starts, runs a command on and deletes a vPLC, showing the steps', async () => {
    const created = await ctl('create', name, '--parent', parent, '--ip', '10.237.0.50/24', '--gateway', '10.237.0.1');
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const lines = created.stdout.trim().split('\n');
    expect(lines[0]).toBe(`create_new_runtime ${name}: creating (Container creation started for ${name})`);
    // Each step of the create as it happened, then the end.
    expect(lines.slice(1, -1).join('\n')).toMatch(/\+\d+\.\d s {2}creating\.\w+ \(\w+\)/);
    expect(lines.some((l) => /\+\d+\.\d s {2}running$/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(new RegExp(`^${name} is running \\(\\d+\\.\\d s\\)$`));

    const status = await ctl('status', name);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^${name}: running`));
    expect(status.stdout).toContain(`  network     ${network}  ip 10.237.0.50`);
    const json = JSON.parse((await ctl('status', name, '--json')).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ action: 'get_device_status', status: 'success', device_id: name, state: 'running' });

    const stopped = await ctl('stop', name);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain(`stop_device ${name}: accepted (Stop of ${name} accepted)`);
    expect(stopped.stdout).toMatch(/\+\d+\.\d s {2}stopping/);
    expect(stopped.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^stop of ${name} done: stopped \\(`));
    expect((await ctl('status', name)).stdout).toMatch(new RegExp(`^${name}: stopped`));

    const started = await ctl('start', name, '--json');
    expect(started.code).toBe(0);
    const events = started.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events[0]).toMatchObject({ type: 'reply', topic: 'start_device', reply: { status: 'accepted' } });
    expect(events.some((e) => e.type === 'progress' && String(e.state).startsWith('starting'))).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'result', outcome: 'done' });

    // Sent the moment it runs again: run_command waits for the runtime's API.
    const exec = await ctl('exec', name, 'GET', '/api/status');
    expect(exec.code).toBe(0);
    expect(exec.stdout).toBe('HTTP 200 (application/json)\n{\n  "status": "RUNNING"\n}\n');

    const list = await ctl('list');
    expect(list.stdout).toMatch(new RegExp(`^NAME +STATE +READY +WANTS.*\\n${name} +running +(yes|no) +running`));

    const deleted = await ctl('delete', name);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain(`delete_device ${name}: deleting (Container deletion started for ${name})`);
    expect(deleted.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^${name} is deleted \\(`));
    const gone = await ctl('status', name);
    expect(gone).toMatchObject({ code: 1, stdout: `${name}: not found (Container ${name} does not exist)\n` });
    const { stdout } = await sh('/usr/bin/docker', ['ps', '-a', '--format', '{{.Names}}']);
    expect(stdout.split('\n')).not.toContain(name);
  }, 300_000);

  it('keeps its keys private', async () => {
    const { stdout } = await sh('stat', ['-c', '%a %n', join(work, 'data/local/ca/ca.key'), join(work, 'data/local')]);
    expect(stdout).toBe(`600 ${join(work, 'data/local/ca/ca.key')}\n700 ${join(work, 'data/local')}\n`);
  });
});

describe('local mode without a Docker engine', () => {
  let agent: Started;
  let ctl: ReturnType<typeof ctlIn>;
  let ctlEnv: Record<string, string>;

  beforeAll(async () => {
    const dataDir = join(work, 'data-nodocker');
    const env = userEnv(dataDir, {
      DOCKER_HOST: `unix://${join(work, 'no-docker.sock')}`,
      ORCH_NETMON_SOCKET: join(work, 'no-sidecar.sock'),
    });
    ctlEnv = { HOME: env.HOME!, ORCH_DATA_DIR: dataDir };
    ctl = ctlIn(ctlEnv);
    agent = startInClone(await readmeCommand('start'), env);
    await waitFor(() => agent.stderr().includes('running in local mode') || agent.child.exitCode !== null, {
      timeoutMs: 300_000,
      intervalMs: 250,
      message: 'the agent to come up in local mode without Docker',
    });
    expect(agent.child.exitCode, agent.output()).toBeNull();
  }, 360_000);
  afterAll(async () => {
    await agent?.stop();
  });

  it('says at start that Docker is unavailable and keeps running', () => {
    expect(agent.stderr()).toContain(`docker    unix://${join(work, 'no-docker.sock')} is unavailable (connect ENOENT`);
  });

  it('answers ctl status with the engine-unavailable sentence', async () => {
    const socket = `unix://${join(work, 'no-docker.sock')}`;
    const all = await ctl('status');
    expect(all.code).toBe(1);
    expect(all.stdout).toMatch(new RegExp(`^error: Docker engine unavailable at ${socket}: list_devices needs it`));
    const one = await ctl('status', 'lm-e2e-x', '--json');
    expect(JSON.parse(one.stdout)).toMatchObject({
      status: 'error',
      action: 'get_device_status',
      error: expect.stringMatching(new RegExp(`^Docker engine unavailable at ${socket}: get_device_status needs it`)),
    });
    // What needs no engine is served, and the agent's heartbeats reach ctl through the endpoint.
    const events = await ctl('events', '--count', '1', '--json');
    expect(JSON.parse(events.stdout)).toMatchObject({
      event: 'heartbeat',
      payload: { status: 'active', agent_id: expect.stringMatching(/^local-/) },
    });
    // Following the events ends cleanly on Ctrl-C.
    const follower = spawn(process.execPath, [join(clone, 'dist/src/main.js'), 'ctl', 'events'], {
      cwd: clone,
      env: { PATH: process.env.PATH ?? '', ...ctlEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let followed = '';
    follower.stdout.on('data', (d: Buffer) => {
      followed += d.toString();
    });
    const ended = new Promise<number | null>((resolve) => follower.once('exit', (code) => resolve(code)));
    await waitFor(() => followed.includes('heartbeat'), { timeoutMs: 15_000, message: 'a heartbeat in ctl events' });
    follower.kill('SIGINT');
    expect(await ended).toBe(0);
    const version = await ctl('version');
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^ctl {6}\d+\.\d+\.\d+\nagent {4}\d+\.\d+\.\d+ \(local-/);
  });
});

/**
 * `set_mac` through a real sidecar on a real namespace: `t11-mac` plays a runtime container whose "PID" is a `sleep`
 * inside it, with a macvlan on one end of a veth pair (`t11p0`) like a Docker MACVLAN endpoint.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSidecar, startSidecar } from '../src/sidecar.js';
import { eventually, TestClient } from './client.js';
import { deleteLink, deleteNetns, ip, isRoot, sh, startRuntimeProcess } from './netns.js';

const NS = 't11-mac';
const DOCKER_MAC = '02:42:0a:4f:00:07';
const KEPT_MAC = '02:5a:10:33:9c:e1';

async function linkState(): Promise<{ address: string; up: boolean }> {
  const [link] = JSON.parse(await ip('-n', NS, '-json', 'link', 'show', 'dev', 't11mv')) as Array<{
    address: string;
    flags: string[];
  }>;
  return { address: link?.address ?? '', up: link?.flags.includes('UP') ?? false };
}

describe.skipIf(!isRoot)('set_mac in a runtime network namespace', () => {
  let dir: string;
  let sidecar: RunningSidecar;
  let client: TestClient;
  let sleeper: ChildProcess;
  let pid = 0;

  /** The reply without the id the test client adds. */
  async function ask(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { id: _id, ...reply } = await client.request({ command: 'set_mac', ...command });
    return reply;
  }

  beforeAll(async () => {
    await deleteNetns(NS);
    await deleteLink('t11p0');
    dir = await mkdtemp(join(tmpdir(), 't11-mac-'));
    await ip('link', 'add', 't11p0', 'type', 'veth', 'peer', 'name', 't11p1');
    await ip('link', 'set', 't11p0', 'up');
    await ip('link', 'set', 't11p1', 'up');
    await ip('netns', 'add', NS);
    await ip(
      'link',
      'add',
      'link',
      't11p0',
      'name',
      't11mv',
      'address',
      DOCKER_MAC,
      'type',
      'macvlan',
      'mode',
      'bridge',
    );
    await ip('link', 'set', 't11mv', 'netns', NS);
    await ip('-n', NS, 'link', 'set', 't11mv', 'up');
    ({ child: sleeper, pid } = await startRuntimeProcess(NS));
    const inode = (await sh('stat', ['-L', '-c', '%i', `/var/run/netns/${NS}`])).trim();
    await eventually(
      async () => (await readlink(`/proc/${pid}/ns/net`).catch(() => '')) === `net:[${inode}]`,
      10_000,
      `sleep ${pid} to enter ${NS}`,
    );
    sidecar = await startSidecar({
      socketPath: join(dir, 'netmon.sock'),
      dataDir: join(dir, 'data'),
      log: pino({ level: 'silent' }),
      sysRoot: join(dir, 'no-sys'),
    });
    client = await TestClient.connect(join(dir, 'netmon.sock'));
  });

  afterAll(async () => {
    await client?.close();
    await sidecar?.close();
    if (sleeper && sleeper.exitCode === null) sleeper.kill('SIGTERM');
    await deleteNetns(NS);
    await deleteLink('t11p0');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives the interface with the current MAC the kept MAC while it stays up', async () => {
    const reply = await ask({
      container_pid: pid,
      current_mac: DOCKER_MAC.toUpperCase(),
      mac_address: KEPT_MAC,
    });
    expect(reply).toEqual({ success: true, message: `MAC of t11mv set to ${KEPT_MAC}` });
    expect(await linkState()).toEqual({ address: KEPT_MAC, up: true });
  });

  it('answers a repeated request as done without changing anything', async () => {
    const reply = await ask({
      container_pid: pid,
      current_mac: DOCKER_MAC,
      mac_address: KEPT_MAC,
    });
    expect(reply).toEqual({ success: true, message: `t11mv already has MAC ${KEPT_MAC}` });
    expect((await linkState()).address).toBe(KEPT_MAC);
  });

  it('fails with a sentence when no interface has the current MAC', async () => {
    const reply = await ask({
      container_pid: pid,
      current_mac: '02:42:0a:4f:00:99',
      mac_address: '02:5a:10:33:9c:e2',
    });
    expect(reply.success).toBe(false);
    expect(reply.error).toBe(
      `No interface with MAC 02:42:0a:4f:00:99 in the network namespace of process ${pid}; nothing was changed`,
    );
    expect((await linkState()).address).toBe(KEPT_MAC);
  });

  it('fails when the process (the container) is gone', async () => {
    const reply = await ask({
      container_pid: 999_999_999,
      current_mac: DOCKER_MAC,
      mac_address: KEPT_MAC,
    });
    expect(reply.success).toBe(false);
    expect(String(reply.error)).toMatch(
      /^Cannot enter the network namespace of process 999999999 \(is the container running\?\): /,
    );
  });

  it('validates its fields', async () => {
    expect(await ask({ current_mac: DOCKER_MAC, mac_address: KEPT_MAC })).toEqual({
      success: false,
      error: 'Missing container_pid',
    });
    expect(await ask({ container_pid: pid, mac_address: KEPT_MAC })).toEqual({
      success: false,
      error: 'Missing current_mac',
    });
    expect(await ask({ container_pid: pid, current_mac: DOCKER_MAC, mac_address: 'nope' })).toEqual({
      success: false,
      error: 'Invalid mac_address: nope is not a MAC address like 02:5a:10:33:9c:e1',
    });
  });
});

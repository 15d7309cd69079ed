/**
 * get_status and get_netlink_status against a real kernel: a network namespace `i11a-mon` stands in for the host
 * (read through an `ip -n i11a-mon` wrapper, as in interfaces.test.ts), so the kernel link watch really runs, really
 * loses its namespace and really comes back.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Compile } from 'typebox/compile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildVersion } from '../../src/version.js';
import { NetlinkStatusReply, StatusReply } from '../src/protocol.js';
import { type RunningSidecar, startSidecar } from '../src/sidecar.js';
import { eventually, type Message, TestClient } from './client.js';
import { deleteNetns, ip, isRoot, sh } from './netns.js';

const MON = 'i11a-mon';
const PEER = 'i11a-peer';

describe.skipIf(!isRoot)('sidecar status commands', () => {
  let dir: string;
  let sidecar: RunningSidecar;
  let client: TestClient;
  let other: TestClient;

  const status = async () => (await client.request({ command: 'get_status' })).status as Message;
  const netlink = async () => (await client.request({ command: 'get_netlink_status' })).status as Message;

  beforeAll(async () => {
    await deleteNetns(MON, PEER);
    await ip('netns', 'add', MON);
    await ip('netns', 'add', PEER);
    dir = await mkdtemp(join(tmpdir(), 'i11a-status-'));
    const wrapper = join(dir, 'ip-in-netns');
    await writeFile(wrapper, `#!/bin/sh\nexec ip -n ${MON} "$@"\n`);
    await chmod(wrapper, 0o755);
    sidecar = await startSidecar({
      socketPath: join(dir, 'netmon.sock'),
      dataDir: join(dir, 'data'),
      log: pino({ level: 'silent' }),
      sysRoot: join(dir, 'no-sys'),
      interfacesIpCommand: wrapper,
      // Long enough that a change is still waiting when the test asks for it.
      networkDebounceMs: 60_000,
    });
    client = await TestClient.connect(join(dir, 'netmon.sock'));
    other = await TestClient.connect(join(dir, 'netmon.sock'));
    await client.event('device_discovery');
    await other.event('device_discovery');
  });

  afterAll(async () => {
    await client?.close();
    await other?.close();
    await sidecar?.close();
    await deleteNetns(MON, PEER);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("answers get_status in the newest old sidecar's shape, with its own version added", async () => {
    const reply = await client.request({ command: 'get_status' });
    expect(Compile(StatusReply).Check(reply)).toBe(true);
    expect(reply).toMatchObject({
      success: true,
      status: {
        netlink: { running: true, degraded: false, consecutive_errors: 0, socket_active: true },
        dhcp: {},
        devices: { running: true, cached_devices: 0, devices: [] },
        clients_connected: 2,
        pending_changes: [],
        version: buildVersion({}),
      },
    });
  });

  it('answers get_netlink_status with the same view of the kernel link watch', async () => {
    const reply = await client.request({ command: 'get_netlink_status' });
    expect(Compile(NetlinkStatusReply).Check(reply)).toBe(true);
    expect(reply).toEqual({
      id: reply.id,
      success: true,
      status: { running: true, degraded: false, consecutive_errors: 0, socket_active: true },
    });
    expect((await status()).netlink).toEqual(reply.status);
    // A command without id is answered too (the old agent sends none), without one.
    client.send({ command: 'get_netlink_status' });
    const bare = await client.waitFor((m) => !('type' in m) && !('id' in m));
    expect(bare).toEqual({ success: true, status: reply.status });
  });

  it('lists an interface whose change waits out its quiet period in pending_changes', async () => {
    await ip('-n', MON, 'link', 'add', 'i11as0', 'type', 'veth', 'peer', 'name', 'i11as1', 'netns', PEER);
    await eventually(async () => ((await status()).pending_changes as string[]).includes('i11as0'), 20_000, 'pending');
    expect((await status()).pending_changes).toEqual(['i11as0']);
  });

  it('counts the agents connected', async () => {
    await other.close();
    await eventually(async () => (await status()).clients_connected === 1, 10_000, 'one client left');
  });

  it('reports the watch degraded while its namespace is gone, and healthy again once it is back', async () => {
    await ip('netns', 'del', MON);
    // The running `ip monitor` keeps the deleted namespace alive: end it (ours, by its pid), so the watch restarts.
    const pids = (await sh('pgrep', ['-f', `^ip -n ${MON} -o monitor`])).trim().split('\n').filter(Boolean);
    expect(pids).toHaveLength(1);
    process.kill(Number(pids[0]), 'SIGTERM');
    await eventually(
      async () => {
        const view = await netlink();
        return view.degraded === true && view.socket_active === false && (view.consecutive_errors as number) >= 1;
      },
      20_000,
      'a degraded watch',
    );
    expect((await status()).netlink).toMatchObject({ running: true, degraded: true, socket_active: false });
    await ip('netns', 'add', MON);
    await eventually(
      async () => {
        const view = await netlink();
        return view.degraded === false && view.socket_active === true && view.consecutive_errors === 0;
      },
      60_000,
      'the watch to recover',
    );
  });
});

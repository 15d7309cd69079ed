/**
 * The sidecar acts with host privileges, so it must only ever act inside a runtime container, and only for the
 * agent. In real namespaces: `hh-tg` plays a runtime's network namespace; `hhm0` is a link of the host's own, with a
 * MAC an attacker might aim `set_mac` or `start_dhcp` at through PID 1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSidecar, startSidecar } from '../src/sidecar.js';
import { TestClient } from './client.js';
import { deleteLink, deleteNetns, ip, isRoot, startRuntimeProcess } from './netns.js';

const NS = 'hh-tg';
const HOST_MAC = '02:48:48:00:00:01';
const RUNTIME_MAC = '02:48:48:00:00:02';
const NOBODY = 65534;

async function hostLinkMac(): Promise<string> {
  const [link] = JSON.parse(await ip('-json', 'link', 'show', 'dev', 'hhm0')) as Array<{ address: string }>;
  return link?.address ?? '';
}

/** A client of the socket running as another user: what it was sent back, and whether it could connect at all. */
async function asUser(
  uid: number,
  socketPath: string,
  dir: string,
): Promise<{ lines: string[]; error: string | null }> {
  const script = join(dir, 'client.cjs');
  await writeFile(
    script,
    `const net = require('node:net');
const out = { lines: [], error: null };
const s = net.createConnection(${JSON.stringify(socketPath)});
let buf = '';
s.on('data', (d) => { buf += d; });
s.on('error', (e) => { out.error = e.code; });
s.on('connect', () => s.write(JSON.stringify({ command: 'get_dhcp_status', id: 'x' }) + '\\n'));
setTimeout(() => { out.lines = buf.split('\\n').filter(Boolean); process.stdout.write(JSON.stringify(out)); process.exit(0); }, 1500);
`,
  );
  await chmod(script, 0o644);
  const child = spawn(process.execPath, [script], { uid, gid: uid, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  await new Promise((resolve) => child.once('exit', resolve));
  return JSON.parse(stdout) as { lines: string[]; error: string | null };
}

describe.skipIf(!isRoot)('the targets and the clients the sidecar serves', () => {
  let dir: string;
  let sidecar: RunningSidecar | undefined;
  let client: TestClient;
  const children: ChildProcess[] = [];

  const open = async (opts: { mode?: number; allowedUids?: number[] } = {}) => {
    await client?.close();
    await sidecar?.close();
    sidecar = await startSidecar({
      socketPath: join(dir, 'netmon.sock'),
      dataDir: join(dir, 'data'),
      log: pino({ level: 'silent' }),
      sysRoot: join(dir, 'no-sys'),
      socketMode: opts.mode,
      allowedUids: opts.allowedUids,
    });
    client = await TestClient.connect(join(dir, 'netmon.sock'));
  };

  beforeAll(async () => {
    await deleteNetns(NS);
    await deleteLink('hhm0');
    await ip('link', 'add', 'hhm0', 'address', HOST_MAC, 'type', 'veth', 'peer', 'name', 'hhm1');
    await ip('netns', 'add', NS);
    await ip('-n', NS, 'link', 'add', 'hhr0', 'address', RUNTIME_MAC, 'type', 'veth', 'peer', 'name', 'hhr1');
    dir = await mkdtemp(join(tmpdir(), 'hh-targets-'));
    // The other user must reach the socket file to be refused by the sidecar rather than by the file system.
    await chmod(dir, 0o755);
    await open();
  });

  afterAll(async () => {
    await client?.close();
    await sidecar?.close();
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await deleteNetns(NS);
    await deleteLink('hhm0');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("refuses set_mac for PID 1 and leaves the host's link as it was", async () => {
    const reply = await client.request({
      command: 'set_mac',
      container_pid: 1,
      current_mac: HOST_MAC,
      mac_address: '02:48:48:00:00:99',
    });
    expect(reply).toMatchObject({
      success: false,
      error:
        "Refusing set_mac for process 1: PID 1 is the host's init, not a runtime container; the network monitor only acts inside a runtime container's own network namespace (send the container's State.Pid)",
    });
    expect(await hostLinkMac()).toBe(HOST_MAC);
  });

  it('refuses start_dhcp for PID 1, and starts no DHCP client on the host', async () => {
    const reply = await client.request({
      command: 'start_dhcp',
      container_name: 'hh-plc',
      vnic_name: 'lan',
      mac_address: HOST_MAC,
      container_pid: 1,
    });
    expect(reply).toMatchObject({ success: false });
    expect(String(reply.error)).toMatch(/^Refusing start_dhcp for process 1: PID 1 is the host's init/);
    expect((await client.request({ command: 'get_dhcp_status' })).status).toEqual({});
  });

  it("refuses a process of the host's network namespace, even as the first process of a PID namespace", async () => {
    const hostInit = spawn('unshare', ['--pid', '--fork', '--kill-child', 'sleep', '600'], { stdio: 'ignore' });
    children.push(hostInit);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const reply = await client.request({
      command: 'set_mac',
      container_pid: hostInit.pid,
      current_mac: HOST_MAC,
      mac_address: '02:48:48:00:00:98',
    });
    expect(String(reply.error)).toBe(
      `Refusing set_mac for process ${hostInit.pid}: process ${hostInit.pid} uses the host's network namespace; the network monitor only acts inside a runtime container's own network namespace (send the container's State.Pid)`,
    );
    expect(await hostLinkMac()).toBe(HOST_MAC);
  });

  it('refuses a process that only entered a namespace, and acts for a runtime container', async () => {
    const entered = spawn('ip', ['netns', 'exec', NS, 'sleep', '600'], { stdio: 'ignore' });
    children.push(entered);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const refused = await client.request({
      command: 'set_mac',
      container_pid: entered.pid,
      current_mac: RUNTIME_MAC,
      mac_address: '02:48:48:00:00:03',
    });
    expect(String(refused.error)).toMatch(
      new RegExp(
        `^Refusing set_mac for process ${entered.pid}: process ${entered.pid} is not the main process of a container`,
      ),
    );
    const runtime = await startRuntimeProcess(NS);
    children.push(runtime.child);
    const done = await client.request({
      command: 'set_mac',
      container_pid: runtime.pid,
      current_mac: RUNTIME_MAC,
      mac_address: '02:48:48:00:00:03',
    });
    expect(done).toMatchObject({ success: true, message: 'MAC of hhr0 set to 02:48:48:00:00:03' });
  });

  it('serves a client of another user only when told to; with the old mode 0666 the check still refuses it', async () => {
    // Mode 0660 (the default): the file system already keeps the other user out.
    expect((await asUser(NOBODY, join(dir, 'netmon.sock'), dir)).error).toBe('EACCES');
    // Mode 0666, as the old sidecar made it: the connection is made, and refused before anything is served.
    await open({ mode: 0o666 });
    const refused = await asUser(NOBODY, join(dir, 'netmon.sock'), dir);
    expect(refused.error).toBeNull();
    expect(refused.lines).toHaveLength(1);
    expect(JSON.parse(refused.lines[0]!)).toEqual({
      type: 'error',
      error: expect.stringMatching(
        /^connection refused: process \d+ runs as uid 65534; only uid 0 may use this socket$/,
      ),
    });
    // The agent's uid, when it does not run as root, is let in by --allow-uids.
    await open({ mode: 0o666, allowedUids: [NOBODY] });
    const served = (await asUser(NOBODY, join(dir, 'netmon.sock'), dir)).lines.map((l) => JSON.parse(l));
    expect(served.map((m) => m.type ?? `reply ${m.id}`)).toEqual(['network_discovery', 'device_discovery', 'reply x']);
    await open();
  }, 30_000);
});

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostEndName } from '../../sidecar/src/proxyArp.js';
import { TestClient } from '../../sidecar/test/client.js';
import { type AgentProcess, agentArgs, ensureBuilt, startAgentProcess } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Dedicated NICs and WiFi vNICs end to end, with real parts only: the built agent and the built sidecar as
 * processes, the test cloud, runtimes on the real Docker engine, and two veth pairs standing in for a plant's ports.
 * Every name starts with `i11e`.
 * - `i11en0` (host) / `i11em0` (netns `i11e-lan`, 10.245.0.1/24): a physical Ethernet port and the field bus behind it.
 * - `i11ew0` (host, 10.246.0.254/24) / `i11ex0` (netns `i11e-wlan`, 10.246.0.1/24, busybox udhcpd): a WiFi station
 *   and its access point; the sidecar's prepared sysfs root marks `i11ew0` as wireless (`phy80211`).
 * A veth end that dies with a runtime's namespace is destroyed, not given back as a physical port would be: a NIC the
 * agent fails to return before a runtime goes is lost for good here, which is what these tests must catch.
 */

const sh = promisify(execFile);
const DOCKER = '/usr/bin/docker';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SIDECAR_ENTRY = join(ROOT, 'dist/sidecar/src/main.js');
const NIC = 'i11en0';
const NIC_PEER = 'i11em0';
const LAN = 'i11e-lan';
const WIFI = 'i11ew0';
const WIFI_PEER = 'i11ex0';
const WLAN = 'i11e-wlan';
const PLC_NIC = 'i11e-nic';
const PLC_KILLED = 'i11e-killed';
/** Where the agent is killed: as the NIC step starts (the port usually still on the host), and once it is done. */
const KILL_POINTS = [
  { step: 'nic', name: `${PLC_KILLED}1`, host: 21 },
  { step: 'attach', name: `${PLC_KILLED}2`, host: 22 },
] as const;
const PLC_WIFI = 'i11e-wifi';
const isRoot = process.getuid?.() === 0;
const docker = isRoot ? await dockerOrSkip() : false;

type Reply = Record<string, unknown>;

/**
 * The vNIC a dedicated-NIC runtime also needs (this agent refuses an empty vNIC list): a static one on the WiFi
 * stand-in, which takes no MACVLAN network and no further fixture.
 */
const staticWifi = (host: number) => ({
  name: 'wlan',
  parent_interface: WIFI,
  network_mode: 'static',
  ip: `10.246.0.${host}`,
  subnet: '255.255.255.0',
  gateway: '10.246.0.1',
});

const ip = async (...args: string[]) => (await sh('ip', args, { timeout: 10_000 })).stdout;
const onHost = (name: string) =>
  ip('link', 'show', 'dev', name).then(
    () => true,
    () => false,
  );
const pingFrom = (netns: string, address: string) =>
  sh('ip', ['netns', 'exec', netns, 'busybox', 'ping', '-c', '1', '-W', '2', address], { timeout: 10_000 }).then(
    () => true,
    () => false,
  );
const containerPid = async (name: string) =>
  Number((await sh(DOCKER, ['inspect', '-f', '{{.State.Pid}}', name])).stdout.trim());
const linksIn = async (pid: number) =>
  (
    JSON.parse((await sh('nsenter', ['-t', String(pid), '-n', '--', 'ip', '-json', 'link', 'show'])).stdout) as Array<{
      ifname: string;
    }>
  ).map((l) => l.ifname);

async function removeFixtures(): Promise<void> {
  for (const name of [PLC_NIC, ...KILL_POINTS.map((k) => k.name), PLC_WIFI]) await removeRuntime(name);
  for (const link of [NIC, WIFI]) await ip('link', 'del', link).catch(() => undefined);
  for (const netns of [LAN, WLAN]) await ip('netns', 'del', netns).catch(() => undefined);
}

/**
 * What a failed test may leave of one runtime, removed behind the agent's back so the next test starts clean: the
 * container (a dedicated NIC still inside dies with it), its internal network and its Proxy-ARP host end.
 */
async function removeRuntime(name: string): Promise<void> {
  await sh(DOCKER, ['rm', '-f', name]).catch(() => undefined);
  await sh(DOCKER, ['network', 'rm', `${name}_internal`]).catch(() => undefined);
  await ip('link', 'del', hostEndName(name, 'wlan')).catch(() => undefined);
}

/** The dedicated-NIC stand-in, made again when a failed test let it die inside a removed runtime. */
async function ensureNic(): Promise<void> {
  if (await onHost(NIC)) return;
  await ip('-n', LAN, 'link', 'del', NIC_PEER).catch(() => undefined);
  await ip('link', 'add', NIC, 'type', 'veth', 'peer', 'name', NIC_PEER, 'netns', LAN);
  await ip('-n', LAN, 'addr', 'add', '10.245.0.1/24', 'dev', NIC_PEER);
  await ip('-n', LAN, 'link', 'set', NIC_PEER, 'up');
  await ip('link', 'set', NIC, 'up');
}

/** Our Proxy-ARP host ends: links whose alias the sidecar set, naming our WiFi stand-in. */
async function ownBridges(): Promise<string[]> {
  const links = JSON.parse((await ip('-json', 'link', 'show')) || '[]') as Array<{ ifname: string; ifalias?: string }>;
  return links
    .filter((l) => l.ifalias?.startsWith('orch-proxy-arp ') && l.ifalias.endsWith(` ${WIFI}`))
    .map((l) => l.ifname);
}

/** The FORWARD rules that let one bridge's traffic past Docker's DROP policy, both ways. */
async function forwardRulesFor(hostEnd: string): Promise<string[]> {
  const { stdout } = await sh('iptables', ['-S', 'FORWARD']);
  return stdout.split('\n').filter((l) => new RegExp(`-[io] ${hostEnd}( |$)`).test(l) && l.includes('ACCEPT'));
}

/** The WiFi DHCP clients of our runtime: busybox udhcpc on the WiFi stand-in, in the host's namespace. */
async function wifiClients(): Promise<number[]> {
  const { stdout } = await sh('pgrep', ['-f', `udhcpc -f -i ${WIFI} `]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean).map(Number);
}

describe.skipIf(!docker)('dedicated NICs and WiFi vNICs on real ports, runtimes and sidecar', () => {
  let dir: string;
  let dataDir: string;
  let image: string;
  let pki: TestPki;
  let cloud: TestCloud;
  let agent: AgentProcess | undefined;
  let sidecar: ChildProcess | undefined;
  let udhcpd: ChildProcess | undefined;
  let sidecarOutput = '';
  let correlation = 1100;
  const socket = () => join(dir, 'netmon.sock');

  const ask = (topic: string, payload: Reply, timeoutMs = 10_000) =>
    cloud.request(topic, { correlation_id: correlation++, ...payload }, timeoutMs) as Promise<Reply>;
  const status = (name: string) => ask('get_device_status', { device_id: name });
  const until = (name: string, predicate: (s: Reply) => boolean, what: string, timeoutMs = 45_000) =>
    waitFor(
      async () => {
        const s = await status(name);
        return predicate(s) ? s : undefined;
      },
      { timeoutMs, intervalMs: 250, message: `${what}; agent output:\n${agent?.output().slice(-3000)}` },
    );
  const running = (s: Reply) => s.status === 'success' && s.state === 'running' && s.is_running === true;
  const dedicatedFile = async () =>
    JSON.parse(await readFile(join(dataDir, 'dedicated_nics.json'), 'utf8').catch(() => '{}')) as Record<
      string,
      { host_interface: string }
    >;

  async function startAgent(env: Record<string, string> = {}): Promise<AgentProcess> {
    if (cloud.connectionCount() > 0) await cloud.waitForDisconnect(15_000);
    const started = await startAgentProcess(
      [...agentArgs({ cloudUrl: cloud.url, pki, image, parentInterfaces: [NIC, WIFI] }), '--netmon-socket', socket()],
      env,
      { dataDir },
    );
    await waitFor(() => cloud.connectionCount() === 1, {
      timeoutMs: 60_000,
      message: `agent connection; output:\n${started.output().slice(-3000)}`,
    });
    return started;
  }

  async function deleteAndWait(name: string): Promise<void> {
    expect(await ask('delete_device', { device_id: name })).toMatchObject({ status: 'deleting' });
    await until(name, (s) => s.status === 'not_found', `${name} deleted`);
  }

  beforeAll(async () => {
    await removeFixtures();
    await ensureBuilt();
    image = await ensureStandinImage();
    dir = await mkdtemp(join(tmpdir(), 'i11e-'));
    dataDir = join(dir, 'agent');
    await mkdir(dataDir);
    await ip('netns', 'add', LAN);
    await ip('netns', 'add', WLAN);
    await ensureNic();
    await ip('link', 'add', WIFI, 'type', 'veth', 'peer', 'name', WIFI_PEER, 'netns', WLAN);
    await ip('-n', WLAN, 'addr', 'add', '10.246.0.1/24', 'dev', WIFI_PEER);
    await ip('-n', WLAN, 'link', 'set', WIFI_PEER, 'up');
    // The station's own address, as a WiFi interface has one from the access point.
    await ip('addr', 'add', '10.246.0.254/24', 'dev', WIFI);
    await ip('link', 'set', WIFI, 'up');
    await mkdir(join(dir, 'sys', 'class', 'net', WIFI, 'phy80211'), { recursive: true });
    await writeFile(join(dir, 'udhcpd.leases'), '');
    await writeFile(
      join(dir, 'udhcpd.conf'),
      [
        'start 10.246.0.100',
        'end 10.246.0.150',
        `interface ${WIFI_PEER}`,
        `lease_file ${join(dir, 'udhcpd.leases')}`,
        `pidfile ${join(dir, 'udhcpd.pid')}`,
        'option subnet 255.255.255.0',
        'option router 10.246.0.1',
        'option lease 600',
        '',
      ].join('\n'),
    );
    // -a 100: answer after a 100 ms ARP probe instead of 2 s.
    udhcpd = spawn('ip', ['netns', 'exec', WLAN, 'busybox', 'udhcpd', '-f', '-a', '100', join(dir, 'udhcpd.conf')], {
      stdio: 'ignore',
    });
    sidecar = spawn(
      process.execPath,
      [SIDECAR_ENTRY, '--socket', socket(), '--data-dir', join(dir, 'netmon'), '--sys-root', join(dir, 'sys')],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    sidecar.stdout?.on('data', (d: Buffer) => {
      sidecarOutput += d.toString();
    });
    sidecar.stderr?.on('data', (d: Buffer) => {
      sidecarOutput += d.toString();
    });
    await waitFor(() => TestClient.connect(socket()).then((c) => c.close().then(() => true)), {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: `the sidecar socket; output:\n${sidecarOutput}`,
    });
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    agent = await startAgent();
  }, 240_000);

  afterAll(async () => {
    await agent?.stop();
    if (sidecar?.pid && sidecar.exitCode === null && sidecar.signalCode === null) {
      const exited = new Promise((resolve) => sidecar?.once('exit', resolve));
      // The sidecar leads its own process group (detached): the negative PID takes its DHCP clients along.
      process.kill(-sidecar.pid, 'SIGKILL');
      await exited;
    }
    if (udhcpd && udhcpd.exitCode === null) udhcpd.kill('SIGTERM');
    await cloud?.close();
    await pki?.cleanup();
    for (const bridge of await ownBridges().catch(() => [])) await ip('link', 'del', bridge).catch(() => undefined);
    await removeFixtures();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  /** Runs a test's body, then removes what it may have left, even when it failed. */
  async function cleanAfter(names: readonly string[], body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } finally {
      for (const name of names) await removeRuntime(name);
      await ensureNic();
    }
  }

  it(
    'moves a dedicated NIC into the runtime, which answers on it, and returns it on delete',
    () =>
      cleanAfter([PLC_NIC], async () => {
        const started = Date.now();
        expect(
          await ask('create_new_runtime', {
            container_name: PLC_NIC,
            vnic_configs: [staticWifi(20)],
            dedicated_interface: NIC,
          }),
        ).toMatchObject({ status: 'creating', container_id: PLC_NIC });
        const up = await until(PLC_NIC, running, `${PLC_NIC} running`);
        const createdMs = Date.now() - started;
        // Its static WiFi vNIC is served through a Proxy-ARP bridge too, and answers from the access point's side.
        expect((up.networks as Record<string, Reply>)[`wifi_${WIFI}_wlan`]).toEqual({
          ip_address: '10.246.0.20',
          mac_address: null,
          gateway: '10.246.0.1',
        });
        await waitFor(() => pingFrom(WLAN, '10.246.0.20'), {
          timeoutMs: 10_000,
          message: 'a ping to the static WiFi vNIC',
        });
        const pid = await containerPid(PLC_NIC);
        expect(await onHost(NIC)).toBe(false);
        expect(await linksIn(pid)).toContain(NIC);
        expect(await dedicatedFile()).toMatchObject({ [PLC_NIC]: { host_interface: NIC } });
        const hosts = (await ask('get_host_interfaces', {})) as { interfaces?: Reply[] };
        expect(hosts.interfaces?.find((i) => i.name === NIC)).toMatchObject({ dedicated_to: PLC_NIC });

        // The runtime configures its port itself (NET_ADMIN, as a field-bus stack would), then both sides answer.
        await sh(DOCKER, ['exec', PLC_NIC, 'ip', 'addr', 'add', '10.245.0.2/24', 'dev', NIC]);
        await waitFor(() => pingFrom(LAN, '10.245.0.2'), { timeoutMs: 10_000, message: 'a ping from the LAN side' });
        await sh(DOCKER, ['exec', PLC_NIC, 'ping', '-c', '1', '-W', '2', '10.245.0.1']);

        await deleteAndWait(PLC_NIC);
        expect(await onHost(NIC)).toBe(true);
        expect(await dedicatedFile()).not.toHaveProperty(PLC_NIC);
        // The port is whole again: its peer is still there (a veth end that died in the runtime takes its peer along).
        expect(await ip('-n', LAN, 'link', 'show', 'dev', NIC_PEER)).toContain(NIC_PEER);
        const hostsAfter = (await ask('get_host_interfaces', {})) as { interfaces?: Reply[] };
        expect(hostsAfter.interfaces?.find((i) => i.name === NIC)).not.toHaveProperty('dedicated_to');
        console.info(`[i11e] create with a dedicated NIC → running ${createdMs} ms`);
      }),
    120_000,
  );

  it.each(KILL_POINTS)(
    'never loses the NIC when the agent is SIGKILLed at create:$step and restarted',
    ({ step, name, host }) =>
      cleanAfter([name], async () => {
        await agent?.stop();
        agent = await startAgent({ ORCH_FAULT_KILL_AT: `create:${step}@${name}` });
        const doomed = agent;
        await ask('create_new_runtime', {
          container_name: name,
          vnic_configs: [staticWifi(host)],
          dedicated_interface: NIC,
        });
        await Promise.race([
          doomed.exited,
          new Promise((_, reject) =>
            setTimeout(
              () => reject(new Error(`agent was not killed; output:\n${doomed.output().slice(-3000)}`)),
              60_000,
            ),
          ),
        ]);
        expect(doomed.child.signalCode).toBe('SIGKILL');
        // Killed with the port on record, wherever the move got to.
        expect(await dedicatedFile()).toMatchObject({ [name]: { host_interface: NIC } });
        const leftOnHost = await onHost(NIC);
        // Past the NIC step the port is inside for sure: the restart must find it there, not move it twice.
        if (step === 'attach') expect(leftOnHost).toBe(false);

        const restartedAt = Date.now();
        agent = await startAgent();
        await until(name, running, `${name} running after the restart`);
        // The interrupted create was completed: the NIC is inside the runtime, not on the host and not gone.
        await waitFor(async () => (await linksIn(await containerPid(name))).includes(NIC), {
          timeoutMs: 20_000,
          message: `${NIC} inside ${name}`,
        });
        const completedMs = Date.now() - restartedAt;
        expect(await onHost(NIC)).toBe(false);
        const s = await status(name);
        expect(String(s.last_error ?? '')).not.toContain(NIC);

        await deleteAndWait(name);
        expect(await onHost(NIC)).toBe(true);
        expect(await dedicatedFile()).not.toHaveProperty(name);
        console.info(
          `[i11e] SIGKILL at create:${step} with the NIC ${leftOnHost ? 'still on the host' : 'already inside'}; ` +
            `restart → NIC inside the running runtime ${completedMs} ms`,
        );
      }),
    180_000,
  );

  it(
    'serves a WiFi-parented vNIC through the Proxy-ARP bridge and WiFi DHCP, and cleans all of it on delete',
    () =>
      cleanAfter([PLC_WIFI], async () => {
        const started = Date.now();
        const network = `wifi_${WIFI}_wlan`;
        const bridge = hostEndName(PLC_WIFI, 'wlan');
        expect(
          await ask('create_new_runtime', {
            container_name: PLC_WIFI,
            vnic_configs: [{ name: 'wlan', parent_interface: WIFI, network_mode: 'dhcp' }],
          }),
        ).toMatchObject({ status: 'creating', container_id: PLC_WIFI });
        const leased = await until(
          PLC_WIFI,
          (s) =>
            running(s) && typeof (s.networks as Record<string, Reply> | undefined)?.[network]?.ip_address === 'string',
          `${network} with an address in get_device_status`,
        );
        const leasedMs = Date.now() - started;
        const entry = (leased.networks as Record<string, Reply>)[network]!;
        const address = String(entry.ip_address);
        expect(address).toMatch(/^10\.246\.0\.(1[0-4]\d|150)$/);
        expect(entry).toMatchObject({ gateway: '10.246.0.1', mac_address: null });
        // No MACVLAN network on a WiFi parent.
        const { stdout: nets } = await sh(DOCKER, ['network', 'ls', '--format', '{{.Name}}']);
        expect(nets.split('\n').filter((n) => n.includes(WIFI))).toEqual([]);

        // The runtime end has the leased address; the access point's side reaches it through the proxy-ARP host.
        const pid = await containerPid(PLC_WIFI);
        const inner = (await sh('nsenter', ['-t', String(pid), '-n', '--', 'ip', '-4', '-o', 'addr', 'show'])).stdout;
        expect(inner).toContain(`${address}/24`);
        expect(await ownBridges()).toEqual([bridge]);
        expect(await ip('neigh', 'show', 'proxy', 'dev', WIFI)).toContain(address);
        expect(await forwardRulesFor(bridge)).toHaveLength(2);
        expect(await wifiClients()).toHaveLength(1);
        await waitFor(() => pingFrom(WLAN, address), {
          timeoutMs: 10_000,
          message: `a ping to ${address} from the AP side`,
        });
        await sh(DOCKER, ['exec', PLC_WIFI, 'ping', '-c', '1', '-W', '2', '10.246.0.1']);

        await deleteAndWait(PLC_WIFI);
        await waitFor(async () => (await wifiClients()).length === 0, {
          timeoutMs: 10_000,
          message: 'no WiFi DHCP client',
        });
        expect(await ownBridges()).toEqual([]);
        expect(await onHost(bridge)).toBe(false);
        expect(await ip('neigh', 'show', 'proxy', 'dev', WIFI)).not.toContain(address);
        expect(await ip('route', 'show', `${address}/32`)).toBe('');
        expect(await forwardRulesFor(bridge)).toEqual([]);
        const vnics = JSON.parse(
          await readFile(join(dataDir, 'runtime_vnics.json'), 'utf8').catch(() => '{}'),
        ) as Reply;
        expect(vnics).not.toHaveProperty(PLC_WIFI);
        // The WiFi stand-in keeps its own address: the bridge never touched the station.
        expect(await ip('-4', '-o', 'addr', 'show', 'dev', WIFI)).toContain('10.246.0.254/24');
        console.info(`[i11e] create with a WiFi DHCP vNIC → address in get_device_status ${leasedMs} ms`);
      }),
    120_000,
  );
});

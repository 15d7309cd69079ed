import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSidecar, startSidecar } from '../../sidecar/src/sidecar.js';
import { ParentInterfaces } from '../../src/actors/network/parents.js';
import { SidecarLink } from '../../src/actors/sidecar/link.js';
import { createVplcOps } from '../../src/actors/vplc/ops.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { NetmonConnector } from '../../src/io/netmon/client.js';
import type { VplcSpec } from '../../src/model/vplc.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Which interface a vNIC may sit on, with the real sidecar on this host's own interfaces and /sys: a veth (another
 * container's end of a link, as far as anyone can tell) and a bridge are not network ports of the host; a hardware
 * port is. Links made here start with `hh`.
 */
const sh = promisify(execFile);
const docker = await dockerOrSkip();
const isRoot = process.getuid?.() === 0;
const log = pino({ level: 'silent' });

const spec = (parent: string): VplcSpec => ({
  name: 'hh-parent-vplc',
  vnics: [
    {
      name: 'eth0',
      parent_interface: parent,
      network_mode: 'static',
      ip: '10.97.0.20',
      subnet: '10.97.0.0/24',
      gateway: '10.97.0.1',
    },
  ],
  serials: [],
});

/** The host's hardware ports, read from /sys the way a person would check them. */
async function hardwarePorts(names: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const name of names) {
    if (
      await access(`/sys/class/net/${name}/device`).then(
        () => true,
        () => false,
      )
    )
      found.push(name);
  }
  return found;
}

describe.skipIf(!docker || !isRoot)('the interfaces a vNIC may use as its parent', () => {
  let dir: string;
  let sidecar: RunningSidecar;
  let link: SidecarLink;
  let engine: DockerEngine;
  let image: string;
  let ports: string[];

  const opsWith = (parents: ParentInterfaces) =>
    createVplcOps({
      engine,
      image,
      ulimits: [],
      interfaces: link,
      dhcp: { start: async () => {}, stop: async () => {} },
      log,
      parentInterfaces: parents,
    });
  const refusal = (parents: ParentInterfaces, parent: string) =>
    opsWith(parents)
      .prepare(spec(parent))
      .then(
        () => 'accepted',
        (err: Error) => err.message,
      );

  beforeAll(async () => {
    await sh('ip', ['link', 'del', 'hhpv0']).catch(() => undefined);
    await sh('ip', ['link', 'del', 'hhbr0']).catch(() => undefined);
    await sh('ip', ['link', 'add', 'hhpv0', 'type', 'veth', 'peer', 'name', 'hhpv1']);
    await sh('ip', ['link', 'set', 'hhpv0', 'up']);
    await sh('ip', ['link', 'add', 'hhbr0', 'type', 'bridge']);
    await sh('ip', ['link', 'set', 'hhbr0', 'up']);
    dir = await mkdtemp(join(tmpdir(), 'hh-parents-'));
    sidecar = await startSidecar({
      socketPath: join(dir, 'netmon.sock'),
      dataDir: join(dir, 'data'),
      log,
      networkDebounceMs: 200,
    });
    link = new SidecarLink({ connector: new NetmonConnector({ socketPath: join(dir, 'netmon.sock'), log }), log });
    link.start();
    await waitFor(() => link.interfaceList().some((i) => i.interface === 'hhpv0'), { timeoutMs: 10_000 });
    ports = await hardwarePorts(link.interfaceList().map((i) => i.interface));
    engine = new DockerEngine({ address: { socketPath: '/var/run/docker.sock' }, log, selfContainer: null });
    image = await ensureStandinImage();
  }, 300_000);

  afterAll(async () => {
    link?.stop();
    await sidecar?.close();
    await sh('ip', ['link', 'del', 'hhpv0']).catch(() => undefined);
    await sh('ip', ['link', 'del', 'hhbr0']).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('the sidecar says which interfaces are hardware ports', () => {
    const byName = new Map(link.interfaceList().map((i) => [i.interface, i]));
    expect(byName.get('hhpv0')?.physical).toBe(false);
    expect(byName.get('hhbr0')?.physical).toBe(false);
    for (const port of ports) expect(byName.get(port)?.physical).toBe(true);
  });

  it('refuses a veth, a bridge or an unknown interface, naming the ports that may be used', async () => {
    const parents = new ParentInterfaces({ allowList: null, sidecar: link });
    const allowed = ports.length > 0 ? `allowed are ${ports.join(', ')}` : 'no hardware port is reported';
    expect(await refusal(parents, 'hhpv0')).toBe(
      `vnic_configs[0].parent_interface 'hhpv0' is not a network port of this host (it has no hardware device behind it (a bridge, VLAN, bond, tunnel or VPN)); ${allowed}; to use another interface, such as a VLAN or a bond, start the agent with --parent-interfaces naming it`,
    );
    expect(await refusal(parents, 'hhbr0')).toMatch(
      /^vnic_configs\[0\]\.parent_interface 'hhbr0' is not a network port/,
    );
    expect(await refusal(parents, 'hhwg9')).toMatch(/\(the network monitor does not report it/);
    expect(await refusal(parents, 'docker0')).toMatch(/\(the network monitor does not report it/);
  }, 60_000);

  it('takes a hardware port of the host', async () => {
    // Every machine that runs these tests has one (a virtio NIC counts: it has a device).
    expect(ports.length).toBeGreaterThan(0);
    const parents = new ParentInterfaces({ allowList: null, sidecar: link });
    expect(await refusal(parents, ports[0]!)).toBe('accepted');
  }, 60_000);

  it('takes exactly what --parent-interfaces lists, a veth too, and nothing else', async () => {
    const parents = new ParentInterfaces({ allowList: ['hhpv0', 'hhbond0'], sidecar: link });
    expect(await refusal(parents, 'hhpv0')).toBe('accepted');
    expect(await refusal(parents, 'hhbr0')).toBe(
      "vnic_configs[0].parent_interface 'hhbr0' is not one of the interfaces this agent may put vPLCs on: --parent-interfaces allows hhpv0, hhbond0; add hhbr0 there (or to ORCH_PARENT_INTERFACES) to use it",
    );
  }, 60_000);

  it('without the sidecar and without an allow-list, refuses and says how to configure one', async () => {
    const away = new SidecarLink({
      connector: new NetmonConnector({ socketPath: join(dir, 'none.sock'), log }),
      log,
    });
    const parents = new ParentInterfaces({ allowList: null, sidecar: away, waitMs: 300, pollMs: 100 });
    expect(await refusal(parents, 'hhpv0')).toBe(
      "vnic_configs[0].parent_interface 'hhpv0' cannot be checked: the network monitor sidecar (autonomy_netmon) is not connected, and without it the agent cannot tell a network port of the host from a bridge, VLAN or VPN; start the sidecar, or start the agent with --parent-interfaces naming the ports vPLCs may use (e.g. --parent-interfaces hhpv0)",
    );
  }, 60_000);
});

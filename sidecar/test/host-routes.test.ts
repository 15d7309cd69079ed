/**
 * `get_host_routes` against a real kernel: the network namespace `hh-rt` stands in for the host, read through an
 * `ip -n hh-rt` wrapper, with an address, a route through a gateway, a refused range and a default route.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeDestinations } from '../src/kernel-view.js';
import { type RunningSidecar, startSidecar } from '../src/sidecar.js';
import { TestClient } from './client.js';
import { deleteNetns, ip, isRoot } from './netns.js';

const NS = 'hh-rt';
const PEER = 'hh-rt-peer';

describe('route destinations', () => {
  it('are CIDRs, a host route a /32, without the default route or multicast', () => {
    expect(
      routeDestinations([
        { dst: 'default', gateway: '10.0.0.1', dev: 'eth0' },
        { dst: '10.0.0.0/24', dev: 'eth0' },
        { type: 'local', dst: '10.0.0.5', dev: 'eth0', table: 'local' },
        { type: 'multicast', dst: '224.0.0.0/4', dev: 'eth0' },
        { type: 'unreachable', dst: '172.16.0.0/12' },
        { dst: 'fe80::/64' },
        { dst: '10.0.0.0/24', dev: 'eth0', table: 'other' },
      ]),
    ).toEqual(['10.0.0.0/24', '10.0.0.5/32', '172.16.0.0/12']);
  });
});

describe.skipIf(!isRoot)('get_host_routes in a real network namespace', () => {
  let dir: string;
  let sidecar: RunningSidecar;
  let client: TestClient;

  beforeAll(async () => {
    await deleteNetns(NS, PEER);
    await ip('netns', 'add', NS);
    await ip('netns', 'add', PEER);
    await ip('-n', NS, 'link', 'add', 'hhr0', 'type', 'veth', 'peer', 'name', 'hhr1', 'netns', PEER);
    await ip('-n', NS, 'link', 'set', 'hhr0', 'up');
    await ip('-n', NS, 'addr', 'add', '10.98.0.2/24', 'dev', 'hhr0');
    await ip('-n', NS, 'route', 'add', 'default', 'via', '10.98.0.1', 'dev', 'hhr0');
    // A site-to-site VPN the plant reaches through a router: invisible as an interface address.
    await ip('-n', NS, 'route', 'add', '172.31.64.0/18', 'via', '10.98.0.254', 'dev', 'hhr0');
    await ip('-n', NS, 'route', 'add', 'unreachable', '192.168.77.0/24');
    dir = await mkdtemp(join(tmpdir(), 'hh-routes-'));
    const wrapper = join(dir, 'ip-in-netns');
    await writeFile(wrapper, `#!/bin/sh\nexec ip -n ${NS} "$@"\n`);
    await chmod(wrapper, 0o755);
    sidecar = await startSidecar({
      socketPath: join(dir, 'netmon.sock'),
      dataDir: join(dir, 'data'),
      log: pino({ level: 'silent' }),
      sysRoot: join(dir, 'no-sys'),
      interfacesIpCommand: wrapper,
    });
    client = await TestClient.connect(join(dir, 'netmon.sock'));
  });

  afterAll(async () => {
    await client?.close();
    await sidecar?.close();
    await deleteNetns(NS, PEER);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reports the host's routes, addresses and refused ranges, not its default route", async () => {
    const reply = await client.request({ command: 'get_host_routes' });
    expect(reply.success).toBe(true);
    const routes = reply.routes as string[];
    expect(routes).toEqual(
      expect.arrayContaining(['10.98.0.0/24', '172.31.64.0/18', '192.168.77.0/24', '10.98.0.2/32']),
    );
    expect(routes.some((r) => r.startsWith('0.0.0.0'))).toBe(false);
  });
});

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { readRouteTable } from '../../src/io/host/routes.js';
import { overlaps, parseIpv4Network } from '../../src/model/ipv4.js';
import { DEFAULT_MAX_VPLCS } from '../../src/model/vplc.js';
import { removeTestObjects, testEngines } from '../support/engines.js';

/**
 * One internal bridge per runtime: from Docker's default pools (about 30 networks on dockerd 20.10, and fewer when
 * other applications have networks) a host could not run the cap's worth of vPLCs ("could not find an available,
 * non-overlapping IPv4 address pool"). They come from a pool of our own, split small, skipping what Docker or the
 * host already uses. The test pool is its own range, so it never takes subnets another test run needs.
 */
const sh = promisify(execFile);
const engines = await testEngines();
const log = pino({ level: 'silent' });

describe.each(engines.map((e, i) => ({ ...e, index: i })))('on Docker $label (API $apiVersion)', (target) => {
  const docker = new Docker({ socketPath: target.socketPath });
  const tag = `hh${target.label.replace('.', '')}-pool`;
  const octet = 246 - target.index;
  const base = `10.${octet}.0.0/21`;
  const veth = `hh${target.index}rt0`;
  const cleanup = () => removeTestObjects(target.socketPath, tag, [tag]);

  beforeAll(async () => {
    await cleanup();
    await sh('ip', ['link', 'del', veth]).catch(() => undefined);
  }, 120_000);

  afterAll(async () => {
    await cleanup();
    await sh('ip', ['link', 'del', veth]).catch(() => undefined);
  }, 180_000);

  it(`makes the cap's worth (${DEFAULT_MAX_VPLCS}) of internal networks, each a /28 of the pool that nothing else uses`, async () => {
    // The host has an address in the pool's second /28, and another Docker network takes the third.
    await sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `hh${target.index}rt1`]);
    await sh('ip', ['addr', 'add', `10.${octet}.0.17/28`, 'dev', veth]);
    await sh('ip', ['link', 'set', veth, 'up']);
    await docker.createNetwork({
      Name: `${tag}-other`,
      Driver: 'bridge',
      IPAM: { Driver: 'default', Config: [{ Subnet: `10.${octet}.0.32/28` }] },
    });
    const engine = new DockerEngine({
      address: { socketPath: target.socketPath },
      log,
      selfContainer: null,
      internalSubnetPool: { base, size: 28 },
    });
    const count = DEFAULT_MAX_VPLCS;
    const subnets: string[] = [];
    // Concurrently, as creates from the cloud arrive: no two may pick the same free subnet.
    const made = await Promise.all(
      Array.from({ length: count }, (_, i) => engine.ensureInternalNetwork(`${tag}-${String(i).padStart(2, '0')}`)),
    );
    for (const net of made) {
      expect(net.subnets).toHaveLength(1);
      subnets.push(net.subnets[0]!);
    }
    const pool = parseIpv4Network(base)!;
    const parsed = subnets.map((s) => parseIpv4Network(s)!);
    for (const net of parsed) {
      expect(net.prefix).toBe(28);
      expect(overlaps(net, pool)).toBe(true);
    }
    expect(new Set(subnets).size).toBe(count);
    expect(subnets).not.toContain(`10.${octet}.0.16/28`);
    expect(subnets).not.toContain(`10.${octet}.0.32/28`);
  }, 180_000);

  it('says which pool is full and how to change it when no subnet is left', async () => {
    const small = `10.${octet}.16.0/27`;
    const engine = new DockerEngine({
      address: { socketPath: target.socketPath },
      log,
      selfContainer: null,
      internalSubnetPool: { base: small, size: 28 },
    });
    await engine.ensureInternalNetwork(`${tag}-s1`);
    await engine.ensureInternalNetwork(`${tag}-s2`);
    await expect(engine.ensureInternalNetwork(`${tag}-s3`)).rejects.toThrow(
      `Cannot create network ${tag}-s3_internal: no /28 subnet of the internal subnet pool ${small} is free (every one is used by a Docker network or a route or address of this host). Start the agent with a larger --internal-subnet-pool, or one in a range this host does not use.`,
    );
  }, 60_000);

  it("reads the host's routes from its own route table", async () => {
    const routes = await readRouteTable();
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) expect(parseIpv4Network(route)).not.toBeNull();
  });
});

/**
 * The interface monitor against a real kernel: a network namespace `t7-mon` stands in for the host (so the test
 * neither disturbs nor is disturbed by the other links on this machine), with veth pairs whose peers live in
 * `t7-peer`. The sidecar reads it through an `ip -n t7-mon` wrapper: same commands, same parsing.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Compile } from 'typebox/compile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetworkChangeEvent } from '../src/protocol.js';
import { type RunningSidecar, startSidecar } from '../src/sidecar.js';
import { type Message, TestClient } from './client.js';
import { deleteNetns, ip, isRoot } from './netns.js';

const MON = 't7-mon';
const PEER = 't7-peer';
const CHANGE_TIMEOUT_MS = 20_000;

describe.skipIf(!isRoot)('interface monitor on a real veth pair', () => {
  let dir: string;
  let sidecar: RunningSidecar;
  let client: TestClient;

  const changesFor = (name: string) =>
    client.messages.filter((m) => m.type === 'network_change' && (m.data as Message).interface === name);

  beforeAll(async () => {
    await deleteNetns(MON, PEER);
    await ip('netns', 'add', MON);
    await ip('netns', 'add', PEER);
    // t7a0: up with an address and a default route. t7n0: up without IPv4. Plus links that must never show.
    for (const [here, there] of [
      ['t7a0', 't7b0'],
      ['t7n0', 't7m0'],
      ['vetht7x', 't7x0'],
    ] as const) {
      await ip('-n', MON, 'link', 'add', here, 'type', 'veth', 'peer', 'name', there, 'netns', PEER);
      await ip('-n', MON, 'link', 'set', here, 'up');
      await ip('-n', PEER, 'link', 'set', there, 'up');
    }
    await ip('-n', MON, 'link', 'add', 'br-t7', 'type', 'bridge');
    await ip('-n', MON, 'link', 'add', 'orch-t7', 'type', 'veth', 'peer', 'name', 't7o0', 'netns', PEER);
    await ip('-n', MON, 'addr', 'add', '10.77.0.1/24', 'dev', 't7a0');
    await ip('-n', MON, 'route', 'add', 'default', 'via', '10.77.0.254', 'dev', 't7a0');

    dir = await mkdtemp(join(tmpdir(), 't7-interfaces-'));
    const wrapper = join(dir, 'ip-in-netns');
    await writeFile(wrapper, `#!/bin/sh\nexec ip -n ${MON} "$@"\n`);
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
    await deleteNetns(MON, PEER);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists the interfaces with their IPv4, gateway and state, and only those', async () => {
    const discovery = await client.event('network_discovery');
    const interfaces = (discovery.data as { interfaces: Message[] }).interfaces;
    expect(interfaces.map((i) => i.interface).sort()).toEqual(['t7a0', 't7n0']);
    expect(interfaces.find((i) => i.interface === 't7a0')).toMatchObject({
      operstate: 'UP',
      status: 'up',
      ipv4_addresses: [{ address: '10.77.0.1', prefixlen: 24, subnet: '10.77.0.0/24', network_address: '10.77.0.0' }],
      gateway: '10.77.0.254',
    });
    expect(interfaces.find((i) => i.interface === 't7n0')).toMatchObject({
      status: 'no_ipv4',
      ipv4_addresses: [],
      gateway: null,
    });
  });

  it('sends one debounced network_change after a burst of address and route changes', async () => {
    await ip('-n', MON, 'addr', 'add', '10.77.1.1/24', 'dev', 't7a0');
    await ip('-n', MON, 'addr', 'del', '10.77.0.1/24', 'dev', 't7a0');
    await ip('-n', MON, 'route', 'replace', 'default', 'via', '10.77.1.254', 'dev', 't7a0');
    const change = await client.event('network_change', (d) => d.interface === 't7a0', CHANGE_TIMEOUT_MS);
    expect(Compile(NetworkChangeEvent).Check(change)).toBe(true);
    expect(change.data).toMatchObject({
      interface: 't7a0',
      status: 'up',
      ipv4_addresses: [{ address: '10.77.1.1', prefixlen: 24, subnet: '10.77.1.0/24' }],
      gateway: '10.77.1.254',
    });
    // A round trip after another full quiet period: no second event for the same burst.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect(changesFor('t7a0')).toHaveLength(1);
    expect(changesFor('t7n0')).toHaveLength(0);
  });

  it('reports a link that lost its carrier as down, without addresses or gateway, and its return', async () => {
    await ip('-n', PEER, 'link', 'set', 't7b0', 'down');
    const down = await client.event('network_change', (d) => d.interface === 't7a0', CHANGE_TIMEOUT_MS);
    expect(down.data).toMatchObject({ status: 'down', ipv4_addresses: [], gateway: null });
    expect((down.data as Message).operstate).not.toBe('UP');

    await ip('-n', PEER, 'link', 'set', 't7b0', 'up');
    const up = await client.event('network_change', (d) => d.interface === 't7a0', CHANGE_TIMEOUT_MS);
    expect(up.data).toMatchObject({ status: 'up', operstate: 'UP', ipv4_addresses: [{ address: '10.77.1.1' }] });
  });

  it('reports the loss of the last IPv4 address', async () => {
    await ip('-n', MON, 'addr', 'flush', 'dev', 't7a0');
    const lost = await client.event('network_change', (d) => d.interface === 't7a0', CHANGE_TIMEOUT_MS);
    expect(lost.data).toMatchObject({ status: 'no_ipv4', operstate: 'UP', ipv4_addresses: [], gateway: null });
  });

  it('reports an interface that disappeared as removed', async () => {
    await ip('-n', MON, 'link', 'del', 't7n0');
    const removed = await client.event('network_change', (d) => d.interface === 't7n0', CHANGE_TIMEOUT_MS);
    expect(removed.data).toMatchObject({ status: 'removed', ipv4_addresses: [], gateway: null });
    expect(
      client.messages.some(
        (m) => m.type === 'network_change' && /^(vetht7x|br-t7|orch-t7)$/.test(String((m.data as Message).interface)),
      ),
    ).toBe(false);
  });
});

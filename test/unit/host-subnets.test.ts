import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { hostSubnets } from '../../src/actors/network/hostSubnets.js';
import { parseRouteTable } from '../../src/io/host/routes.js';

const log = pino({ level: 'silent' });

describe("the host's subnets an internal network must avoid", () => {
  it('reads /proc/net/route (little-endian hex), without the default route', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'docker26br0\t0000C80A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'wg0\t00401FAC\t00000000\t0001\t0\t0\t0\t00C0FFFF\t0\t0\t0',
    ].join('\n');
    expect(parseRouteTable(table)).toEqual(['10.200.0.0/24', '192.0.2.0/24', '172.31.64.0/18']);
  });

  it("adds the sidecar's host routes and addresses, and does without them when it is away", async () => {
    const sidecar = {
      online: () => true,
      interfaceList: () =>
        [
          {
            ipv4_addresses: [
              { address: '10.1.0.5', prefixlen: 24, subnet: '10.1.0.0/24', network_address: '10.1.0.0' },
            ],
          },
        ] as never,
      request: async () => ({ success: true as const, routes: ['172.31.64.0/18'] }),
    };
    const read = hostSubnets({ sidecar, log, readOwnRoutes: async () => ['172.18.0.0/16'] });
    expect(await read()).toEqual(['172.18.0.0/16', '10.1.0.0/24', '172.31.64.0/18']);
    const old = {
      ...sidecar,
      request: async () => ({ success: false as const, error: 'Unknown command: get_host_routes' }),
    };
    expect(await hostSubnets({ sidecar: old, log, readOwnRoutes: async () => [] })()).toEqual(['10.1.0.0/24']);
    const away = { ...sidecar, online: () => false, interfaceList: () => [] };
    expect(await hostSubnets({ sidecar: away, log, readOwnRoutes: async () => ['10.9.0.0/16'] })()).toEqual([
      '10.9.0.0/16',
    ]);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineFramer } from '../src/framing.js';
import { buildInterfaceViews, interfaceType, describeIpv4, parseMonitorLine } from '../src/kernel-view.js';
import { parseUnixSockets } from '../src/peer.js';
import { parseLeaseLine, prefixFromMask } from '../src/lease.js';

describe('LineFramer', () => {
  it('splits lines the same way whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\n') && s.trim() !== '')),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1 }),
        (lines, cuts) => {
          const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
          const framer = new LineFramer(1000);
          const out: string[] = [];
          let offset = 0;
          for (let i = 0; offset < bytes.length; i++) {
            const size = cuts[i % cuts.length]!;
            for (const frame of framer.push(bytes.subarray(offset, offset + size))) {
              if (frame.kind === 'line') out.push(frame.text);
            }
            offset += size;
          }
          expect(out).toEqual(lines.map((l) => l.replace(/\r$/, '')));
        },
      ),
    );
  });

  it('reports an oversized line once, drops it, and keeps the lines around it', () => {
    const framer = new LineFramer(10);
    const frames = [
      ...framer.push(Buffer.from('short\n0123456')),
      ...framer.push(Buffer.from('789ABCDEF')),
      ...framer.push(Buffer.from('more-junk\nnext\n')),
    ];
    expect(frames).toEqual([{ kind: 'line', text: 'short' }, { kind: 'oversized' }, { kind: 'line', text: 'next' }]);
  });

  it('does not split a multi-byte character cut between chunks', () => {
    const framer = new LineFramer(100);
    const bytes = Buffer.from('{"name":"Ventil ü"}\n');
    const cut = bytes.indexOf(0xc3) + 1;
    expect([...framer.push(bytes.subarray(0, cut)), ...framer.push(bytes.subarray(cut))]).toEqual([
      { kind: 'line', text: '{"name":"Ventil ü"}' },
    ]);
  });
});

describe('DHCP lease parsing', () => {
  it('reads busybox prefix-length masks and dotted masks alike (24 is a /24, not a /2)', () => {
    expect(prefixFromMask('24')).toBe(24);
    expect(prefixFromMask('255.255.255.0')).toBe(24);
    expect(prefixFromMask('255.255.240.0')).toBe(20);
    expect(prefixFromMask('255.255.255.255')).toBe(32);
    expect(prefixFromMask('0')).toBe(0);
    expect(prefixFromMask('255.0.255.0')).toBeUndefined();
    expect(prefixFromMask('33')).toBeUndefined();
    expect(prefixFromMask('')).toBeUndefined();
  });

  it('prefers the mask over a wrong prefix from the hook', () => {
    const lease = parseLeaseLine(
      'ORCH_LEASE {"interface":"eth1","ip":"192.168.1.77","mask":"24","prefix":2,"router":"192.168.1.1","dns":"1.1.1.1","lease":"600","event":"bound"}',
    );
    expect(lease).toMatchObject({ ip: '192.168.1.77', prefix: 24, router: '192.168.1.1', dns: '1.1.1.1', domain: '' });
  });

  it('ignores ordinary udhcpc output and broken marker lines', () => {
    expect(parseLeaseLine('udhcpc: lease of 10.0.0.5 obtained')).toBeUndefined();
    expect(parseLeaseLine('ORCH_LEASE {not json')).toBeUndefined();
    expect(parseLeaseLine('ORCH_LEASE [1]')).toBeUndefined();
  });

  it('keeps a lease failure as an error without an address', () => {
    expect(parseLeaseLine('ORCH_LEASE {"interface":"eth1","error":"lease_failed","event":"leasefail"}')).toMatchObject({
      ip: '',
      error: 'lease_failed',
      event: 'leasefail',
    });
  });
});

describe('kernel view', () => {
  const addr = [
    {
      ifindex: 1,
      ifname: 'lo',
      flags: ['LOOPBACK', 'UP'],
      operstate: 'UNKNOWN',
      address: '00:00:00:00:00:00',
      addr_info: [],
    },
    {
      ifindex: 2,
      ifname: 'eth0',
      flags: ['UP', 'LOWER_UP'],
      operstate: 'UP',
      address: '02:FC:00:00:00:01',
      addr_info: [
        { family: 'inet', local: '192.168.10.7', prefixlen: 23 },
        { family: 'inet6', local: 'fd00::2', prefixlen: 64 },
      ],
    },
    {
      ifindex: 3,
      ifname: 'eth1',
      flags: ['UP', 'LOWER_UP'],
      operstate: 'UP',
      address: '02:00:00:00:00:02',
      addr_info: [],
    },
    {
      ifindex: 4,
      ifname: 'eth2',
      flags: ['NO-CARRIER', 'UP'],
      operstate: 'DOWN',
      address: '02:00:00:00:00:03',
      addr_info: [{ family: 'inet', local: '10.1.0.1', prefixlen: 24 }],
    },
    {
      ifindex: 5,
      ifname: 'wg0',
      flags: ['POINTOPOINT', 'UP', 'LOWER_UP'],
      operstate: 'UNKNOWN',
      link_type: 'none',
      addr_info: [{ family: 'inet', local: '10.9.0.2', prefixlen: 32 }],
    },
    { ifindex: 6, ifname: 'docker0', operstate: 'DOWN', addr_info: [] },
    { ifindex: 7, ifname: 'veth12ab', operstate: 'UP', addr_info: [] },
    { ifindex: 8, ifname: 'br-0a1b2c', operstate: 'UP', addr_info: [] },
    { ifindex: 9, ifname: 'orch-shim0', operstate: 'UP', addr_info: [] },
  ];
  const routes = [
    { dst: 'default', gateway: '192.168.10.1', dev: 'eth0' },
    { dst: 'default', gateway: '10.1.0.254', dev: 'eth2' },
    { dst: '192.168.10.0/23', dev: 'eth0' },
  ];

  it('reports up, no-IPv4 and down interfaces explicitly and filters Docker and our own links', () => {
    const views = buildInterfaceViews(addr, routes, new Set(['eth0', 'eth1', 'eth2']));
    expect([...views.keys()]).toEqual(['eth0', 'eth1', 'eth2', 'wg0']);
    expect(views.get('eth0')).toEqual({
      interface: 'eth0',
      index: 2,
      operstate: 'UP',
      ipv4_addresses: [
        { address: '192.168.10.7', prefixlen: 23, subnet: '192.168.10.0/23', network_address: '192.168.10.0' },
      ],
      gateway: '192.168.10.1',
      status: 'up',
      mac_address: '02:fc:00:00:00:01',
      physical: true,
      type: 'ethernet',
    });
    expect(views.get('eth1')).toMatchObject({ status: 'no_ipv4', ipv4_addresses: [], gateway: null });
    expect(views.get('eth2')).toMatchObject({ status: 'down', operstate: 'DOWN', ipv4_addresses: [], gateway: null });
    expect(views.get('wg0')).toMatchObject({ status: 'up', mac_address: null, physical: false });
  });

  it('types an interface wifi when sysfs marks it wireless or its name is a WiFi name, else ethernet', () => {
    const views = buildInterfaceViews(addr, routes, new Set(['eth0']), new Set(['eth1']));
    expect(views.get('eth1')?.type).toBe('wifi');
    expect(views.get('eth0')?.type).toBe('ethernet');
    expect(interfaceType('wlp3s0', new Set())).toBe('wifi');
    expect(interfaceType('wlx001122', new Set())).toBe('wifi');
    expect(interfaceType('enp3s0', new Set())).toBe('ethernet');
  });

  it('computes subnets for every prefix length', () => {
    expect(describeIpv4('10.20.30.40', 0)?.subnet).toBe('0.0.0.0/0');
    expect(describeIpv4('10.20.30.40', 8)?.subnet).toBe('10.0.0.0/8');
    expect(describeIpv4('10.20.30.40', 30)?.subnet).toBe('10.20.30.40/30');
    expect(describeIpv4('255.255.255.255', 32)?.network_address).toBe('255.255.255.255');
    expect(describeIpv4('10.20.30', 8)).toBeUndefined();
  });

  it('finds the interface an ip monitor line is about', () => {
    expect(parseMonitorLine('12: t7a0@if11: <BROADCAST,MULTICAST,UP> mtu 1500 state UP')).toEqual({
      index: 12,
      name: 't7a0',
    });
    expect(parseMonitorLine('Deleted 12: t7a0    inet 10.77.0.1/24 scope global t7a0')).toEqual({
      index: 12,
      name: 't7a0',
    });
    expect(parseMonitorLine('default via 10.77.0.254 dev t7a0 metric 100')).toEqual({ name: 't7a0' });
    expect(parseMonitorLine('Deleted 10.77.0.0/24 dev t7a0 proto kernel scope link')).toEqual({ name: 't7a0' });
    expect(parseMonitorLine('[LINK]3: eth1: <UP> mtu 1500')).toEqual({ index: 3, name: 'eth1' });
    expect(parseMonitorLine('unreachable 10.0.0.0/8')).toEqual({});
  });
});

describe('the kernel socket table as ss -xpnH prints it', () => {
  it('gives each connected Unix stream socket its inode, its peer and the processes holding it', () => {
    const table = [
      'u_str ESTAB 0      0      /var/orchestrator/netmon.sock 554894 * 554893 users:(("node",pid=31748,fd=21))',
      'u_str ESTAB 0      0                                  * 554893 * 554894 users:(("node",pid=4012,fd=20),("node",pid=4013,fd=20))',
      'u_dgr UNCONN 0     0      /run/systemd/notify 1234 * 0',
      'u_str LISTEN 0     511    /var/orchestrator/netmon.sock 554880 * 0 users:(("node",pid=31748,fd=19))',
    ].join('\n');
    expect(parseUnixSockets(table)).toEqual([
      { inode: 554894, peer: 554893, pids: [31748] },
      { inode: 554893, peer: 554894, pids: [4012, 4013] },
      { inode: 554880, peer: 0, pids: [31748] },
    ]);
  });
});

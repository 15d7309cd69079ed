import { describe, expect, it } from 'vitest';
import type { VplcSpec } from '../../src/model/vplc.js';
import { validateVplcSpec } from '../../src/machines/vplc/validate.js';

const good = (): VplcSpec => ({
  name: 'plc-1',
  vnics: [
    { name: 'eth0', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.77/24', mac: '02:5a:10:33:9c:e1' },
    { name: 'eth1', parent_interface: 'enp3s0', network_mode: 'dhcp', dns: ['8.8.8.8'] },
  ],
  serials: [{ name: 'modbus', device_id: 'usb-FTDI-if00-port0', container_path: '/dev/modbus0' }],
});

function withChange(change: (spec: VplcSpec) => void): VplcSpec {
  const spec = good();
  change(spec);
  return spec;
}

describe('validateVplcSpec', () => {
  it('accepts a well-formed spec', () => {
    expect(validateVplcSpec(good())).toBeNull();
  });

  it('accepts a name of exactly 128 characters', () => {
    expect(validateVplcSpec(withChange((s) => (s.name = 'p'.repeat(128))))).toBeNull();
  });

  it.each([
    ['blank name', (s: VplcSpec) => (s.name = '  '), 'Container name must be a non-empty string'],
    [
      'name with a space',
      (s: VplcSpec) => (s.name = 'plc 1'),
      "Container name 'plc 1' is not a valid Docker container name",
    ],
    ['no vNICs', (s: VplcSpec) => (s.vnics = []), 'At least one vNIC configuration is required'],
    ['a 129-character name', (s: VplcSpec) => (s.name = 'p'.repeat(129)), 'is longer than 128 characters'],
    [
      'upper-case mode',
      (s: VplcSpec) => (s.vnics[1]!.network_mode = 'DHCP'),
      "vnic_configs[1].network_mode 'DHCP' is not supported",
    ],
    [
      'static without ip',
      (s: VplcSpec) => (s.vnics[0]!.ip = null),
      "vnic_configs[0].ip is required when network_mode is 'static'",
    ],
    [
      'bad ip',
      (s: VplcSpec) => (s.vnics[0]!.ip = '192.168.1.300'),
      "vnic_configs[0].ip '192.168.1.300' is not an IPv4 address",
    ],
    ['bad mac', (s: VplcSpec) => (s.vnics[0]!.mac = '02:5a:10'), "vnic_configs[0].mac '02:5a:10' is not a MAC address"],
    ['multicast mac', (s: VplcSpec) => (s.vnics[0]!.mac = '01:00:5e:00:00:01'), 'is a multicast address'],
    [
      'duplicate vnic name',
      (s: VplcSpec) => (s.vnics[1]!.name = 'eth0'),
      "vnic_configs[1].name 'eth0' is already used by vnic_configs[0]",
    ],
    ['bad parent', (s: VplcSpec) => (s.vnics[0]!.parent_interface = 'a/b'), "vnic_configs[0].parent_interface 'a/b'"],
    ['bad dns', (s: VplcSpec) => (s.vnics[1]!.dns = ['dns.google']), "vnic_configs[1].dns[0] 'dns.google'"],
    ['bad subnet', (s: VplcSpec) => (s.vnics[0]!.subnet = '192.168.1.0/40'), "vnic_configs[0].subnet '192.168.1.0/40'"],
    [
      'path traversal in serial',
      (s: VplcSpec) => (s.serials[0]!.container_path = '/dev/../etc/passwd'),
      'must be a plain path under /dev',
    ],
    [
      'serial outside /dev',
      (s: VplcSpec) => (s.serials[0]!.container_path = '/tmp/x'),
      'must be a plain path under /dev',
    ],
  ])('refuses %s', (_label, change, message) => {
    expect(validateVplcSpec(withChange(change))).toContain(message);
  });

  it('refuses the same MAC on two vNICs, whatever the case', () => {
    const spec = withChange((s) => {
      s.vnics[1]!.mac = '02:5A:10:33:9C:E1';
    });
    expect(validateVplcSpec(spec)).toBe(
      "vnic_configs[1].mac '02:5A:10:33:9C:E1' is also requested by vnic_configs[0]; every vNIC needs its own MAC",
    );
  });
});

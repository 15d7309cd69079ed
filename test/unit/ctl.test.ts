import { describe, expect, it } from 'vitest';
import { parseCtlArgs, subnetOf } from '../../src/cli/ctl/args.js';
import { render } from '../../src/cli/ctl/render.js';
import { UsageError } from '../../src/cli/toolArgs.js';

const action = (argv: string[]) => parseCtlArgs(argv).action;
const usageError = (argv: string[]) => {
  try {
    parseCtlArgs(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
};

describe('ctl shortcuts', () => {
  it('builds create_new_runtime from one vNIC, deriving the subnet from the prefix', () => {
    expect(
      action(['create', 'plc1', '--parent', 'eth0', '--ip', '192.168.1.50/24', '--gateway', '192.168.1.1']),
    ).toEqual({
      kind: 'send',
      topic: 'create_new_runtime',
      payload: {
        container_name: 'plc1',
        vnic_configs: [
          {
            name: 'eth0',
            parent_interface: 'eth0',
            network_mode: 'static',
            ip: '192.168.1.50',
            subnet: '192.168.1.0/24',
            gateway: '192.168.1.1',
          },
        ],
      },
      view: 'ack',
      follow: 'create',
    });
  });

  it('takes more vNICs, DHCP and serial ports', () => {
    const a = action([
      'create',
      'plc2',
      '--vnic',
      'name=lan,parent=eth0,dhcp',
      '--vnic',
      'parent=eth1,ip=10.0.0.5/16,mac=02:00:00:00:00:05',
      '--serial',
      'name=rtu,device=usb-FTDI-if00,path=/dev/modbus0',
    ]);
    expect(a).toMatchObject({
      payload: {
        vnic_configs: [
          { name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' },
          { name: 'eth1', parent_interface: 'eth1', ip: '10.0.0.5', subnet: '10.0.0.0/16', mac: '02:00:00:00:00:05' },
        ],
        serial_configs: [{ name: 'rtu', device_id: 'usb-FTDI-if00', container_path: '/dev/modbus0' }],
      },
    });
  });

  it('maps start, stop, restart, delete, status, list, exec and logs to their topics', () => {
    expect(action(['start', 'p'])).toMatchObject({
      topic: 'start_device',
      payload: { device_id: 'p' },
      follow: 'command',
    });
    expect(action(['stop', 'p'])).toMatchObject({ topic: 'stop_device', follow: 'command' });
    expect(action(['restart', 'p'])).toMatchObject({ topic: 'restart_device', follow: 'command' });
    expect(action(['delete', 'p'])).toMatchObject({ topic: 'delete_device', follow: 'delete' });
    expect(action(['status', 'p'])).toMatchObject({ topic: 'get_device_status', view: 'status', follow: null });
    expect(action(['status'])).toMatchObject({ topic: 'list_devices', view: 'list' });
    expect(action(['list'])).toMatchObject({ topic: 'list_devices' });
    expect(action(['exec', 'p', '/api/status'])).toMatchObject({
      topic: 'run_command',
      payload: { device_id: 'p', method: 'GET', api: '/api/status' },
    });
    expect(
      action(['exec', 'p', 'post', '/api/start-plc', '--data', '{"a":1}', '--header', 'X-Test: 1', '--port', '8080']),
    ).toMatchObject({
      payload: { method: 'POST', api: '/api/start-plc', data: { a: 1 }, headers: { 'X-Test': '1' }, port: 8080 },
    });
    expect(action(['logs', 'p'])).toMatchObject({
      topic: 'run_command',
      view: 'logs',
      payload: { api: '/api/runtime-logs' },
    });
    expect(action(['version'])).toEqual({ kind: 'version' });
    expect(action(['events', '--count', '2'])).toEqual({ kind: 'events', count: 2 });
  });

  it('sends any topic with key=value fields or a JSON payload, and keeps the agent flags apart', () => {
    const args = parseCtlArgs(['get_host_interfaces', 'include_virtual=true', 'detailed=no', '--data-dir', '/srv/x']);
    expect(args.action).toMatchObject({
      topic: 'get_host_interfaces',
      payload: { include_virtual: true, detailed: 'no' },
      view: 'raw',
    });
    expect(args.agentArgs).toEqual(['--data-dir', '/srv/x']);
    const json = parseCtlArgs(['get_device_status', '--json', '{"device_id":"p","correlation_id":9}']);
    expect(json.json).toBe(true);
    expect(json.action).toMatchObject({ payload: { device_id: 'p', correlation_id: 9 }, view: 'status' });
    expect(parseCtlArgs(['status', 'p', '--json']).json).toBe(true);
    expect(parseCtlArgs(['status', 'p', '--json']).action).toMatchObject({ payload: { device_id: 'p' } });
    expect(parseCtlArgs(['stop', 'p', '--no-wait']).action).toMatchObject({ follow: null });
  });

  it('refuses what it cannot send with a sentence', () => {
    expect(usageError(['create', 'p'])).toMatch(/^create p needs a network: e\.g\. --parent eth0/);
    expect(usageError(['create', 'p', '--parent', 'eth0'])).toMatch(/give a static address with its prefix/);
    expect(usageError(['start'])).toBe("start needs the vPLC's name, e.g. start plc1");
    expect(usageError(['status', 'p', '--ip', '1.2.3.4'])).toBe('--ip belongs to ctl create, not to status');
    expect(usageError(['status', 'p', '--bogus'])).toBe('unknown flag --bogus (see ctl --help)');
    expect(usageError(['x', '--json', '{nope'])).toMatch(/^--json PAYLOAD is not JSON/);
    expect(usageError(['exec', 'p', 'GET', 'api/status'])).toBe('exec: the path must start with /, not "api/status"');
  });

  it('computes the network of an address with a prefix', () => {
    expect(subnetOf('10.1.2.3/24')).toBe('10.1.2.0/24');
    expect(subnetOf('172.16.200.9/12')).toBe('172.16.0.0/12');
    expect(subnetOf('10.1.2.3')).toBeUndefined();
    expect(subnetOf('10.1.2.300/24')).toBeUndefined();
  });
});

describe('ctl replies for people', () => {
  it('shows a running vPLC in a few lines', () => {
    const text = render('status', 'get_device_status', {
      status: 'success',
      device_id: 'plc1',
      container_status: 'running',
      is_running: true,
      uptime_seconds: 75,
      restart_count: 0,
      networks: {
        macvlan_eth0_10_24: { ip_address: '10.1.0.5', mac_address: '02:00:00:00:00:01', gateway: '10.1.0.1' },
      },
      internal_ip: '172.18.0.2',
      state: 'running',
      ready: true,
      desired_state: 'running',
    });
    expect(text).toBe(
      [
        'plc1: running, ready',
        '  container   running, up 1 min 15 s, 0 restarts',
        '  network     macvlan_eth0_10_24  ip 10.1.0.5  mac 02:00:00:00:00:01  gateway 10.1.0.1',
        '  internal ip 172.18.0.2',
      ].join('\n'),
    );
  });

  it('names the vPLC asked about in a refusal that does not', () => {
    expect(
      render(
        'status',
        'get_device_status',
        { status: 'error', error: 'Docker engine unavailable at x' },
        { device_id: 'p' },
      ),
    ).toBe('p: error: Docker engine unavailable at x');
  });

  it('lists vPLCs as a table', () => {
    const text = render('list', 'list_devices', {
      status: 'success',
      devices: [{ device_id: 'plc1', state: 'running', ready: true, desired_state: 'running' }],
    });
    expect(text.split('\n')).toEqual([
      'NAME  STATE    READY  WANTS    STEP OR LAST ERROR',
      'plc1  running  yes    running',
    ]);
  });
});

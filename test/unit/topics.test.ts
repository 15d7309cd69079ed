import { describe, expect, it } from 'vitest';
import {
  allTopics,
  type CreateNewRuntimeRequest,
  findTopic,
  isMutating,
  isPythonIsoDateTime,
  isTopicName,
  type TopicName,
  type TopicRequests,
} from '../../src/io/cloud/topics/index.js';
import { NOT_AN_OBJECT_ERROR, validateRequest } from '../../src/io/cloud/validation.js';
import type { SerialConfig, VnicConfig } from '../../src/model/vplc.js';

type Kind = 'number' | 'string' | 'nonempty' | 'boolean' | 'list' | 'date' | 'any';

/** The old agent's contracts (docs/protocol.md#topics), field by field in declaration order. */
const CONTRACTS: Record<
  TopicName,
  { valid: Record<string, unknown>; fields: Array<[string, Kind, 'required' | 'optional']> }
> = (() => {
  const base: Array<[string, Kind, 'required' | 'optional']> = [
    ['correlation_id', 'number', 'optional'],
    ['action', 'string', 'optional'],
    ['requested_at', 'date', 'optional'],
  ];
  const device: Array<[string, Kind, 'required' | 'optional']> = [...base, ['device_id', 'nonempty', 'required']];
  const periods: Array<[string, Kind, 'required' | 'optional']> = [
    ['cpuPeriod', 'string', 'required'],
    ['memoryPeriod', 'string', 'required'],
  ];
  return {
    create_new_runtime: {
      valid: {
        correlation_id: 42,
        container_name: 'plc1',
        vnic_configs: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' }],
      },
      fields: [
        ...base,
        ['container_name', 'nonempty', 'required'],
        ['vnic_configs', 'list', 'required'],
        ['serial_configs', 'list', 'optional'],
        ['runtime_version', 'string', 'optional'],
      ],
    },
    delete_device: { valid: { correlation_id: 7, device_id: 'plc1' }, fields: device },
    delete_orchestrator: { valid: { correlation_id: 9 }, fields: base },
    upgrade_orchestrator: { valid: { correlation_id: 22 }, fields: base },
    run_command: {
      valid: { correlation_id: 12345, device_id: 'plc1', method: 'GET', api: '/api/status' },
      fields: [
        ...device,
        ['method', 'string', 'required'],
        ['api', 'string', 'required'],
        ['port', 'number', 'optional'],
        ['headers', 'any', 'optional'],
        ['data', 'any', 'optional'],
        ['params', 'any', 'optional'],
        ['files', 'any', 'optional'],
      ],
    },
    get_consumption_device: {
      valid: { correlation_id: 5, device_id: 'plc1', cpuPeriod: '1h', memoryPeriod: '1h' },
      fields: [...device, ...periods],
    },
    get_consumption_orchestrator: {
      valid: { correlation_id: 6, cpuPeriod: '1h', memoryPeriod: '1h' },
      fields: [...base, ...periods],
    },
    get_device_status: { valid: { correlation_id: 1, device_id: 'plc1' }, fields: device },
    get_host_interfaces: {
      valid: { correlation_id: 3 },
      fields: [...base, ['include_virtual', 'boolean', 'optional'], ['detailed', 'boolean', 'optional']],
    },
    get_serial_devices: { valid: { correlation_id: 4 }, fields: base },
    list_devices: { valid: { correlation_id: 4 }, fields: base },
    get_orchestrator_version: { valid: { correlation_id: 21 }, fields: base },
    start_device: { valid: { correlation_id: 8, device_id: 'plc1' }, fields: device },
    stop_device: { valid: { correlation_id: 8, device_id: 'plc1' }, fields: device },
    restart_device: { valid: { correlation_id: 8, device_id: 'plc1' }, fields: device },
    'webrtc:offer': {
      valid: { correlation_id: 31, session_id: 's-1', device_id: 'plc1', sdp: 'v=0\r\n', sdp_type: 'offer' },
      fields: [
        ...base,
        ['session_id', 'string', 'required'],
        ['device_id', 'string', 'required'],
        ['sdp', 'string', 'required'],
        ['sdp_type', 'string', 'required'],
      ],
    },
    'webrtc:ice': {
      valid: { correlation_id: 32, session_id: 's-1' },
      fields: [
        ...base,
        ['session_id', 'string', 'required'],
        ['candidate', 'string', 'optional'],
        ['sdp_mid', 'string', 'optional'],
        ['sdp_mline_index', 'number', 'optional'],
      ],
    },
    'webrtc:disconnect': {
      valid: { correlation_id: 33, session_id: 's-1' },
      fields: [...base, ['session_id', 'string', 'required'], ['reason', 'string', 'optional']],
    },
  };
})();

/** A value of the wrong type for each kind, and the text the reply must carry. Booleans are not numbers. */
const WRONG: Record<Exclude<Kind, 'any'>, Array<[unknown, string]>> = {
  number: [
    [true, 'Value must be a number.'],
    ['42', 'Value must be a number.'],
    [[], 'Value must be a number.'],
  ],
  string: [
    [5, 'Value must be a string.'],
    [false, 'Value must be a string.'],
    [{}, 'Value must be a string.'],
  ],
  // The newest old agent's NonEmptyStringType: a string, and not only white space.
  nonempty: [
    [5, 'Value must be a string.'],
    [false, 'Value must be a string.'],
    [{}, 'Value must be a string.'],
    ['', 'Value must be a non-empty string.'],
    ['   ', 'Value must be a non-empty string.'],
    ['\t\n', 'Value must be a non-empty string.'],
  ],
  boolean: [
    [1, 'Value must be a boolean.'],
    ['true', 'Value must be a boolean.'],
  ],
  list: [
    [{}, 'Value must be a list.'],
    ['eth0', 'Value must be a list.'],
  ],
  date: [
    ['yesterday', 'Value must be a valid ISO datetime string.'],
    ['2024-13-01', 'Value must be a valid ISO datetime string.'],
    [1767225600, 'Value must be a valid ISO datetime string.'],
  ],
};

function expectError(topic: TopicName, payload: unknown, error: string) {
  expect(validateRequest(topic, payload)).toEqual({ ok: false, error });
}

describe('topic list', () => {
  it("holds the old agent's topics, its newest get_orchestrator_version and WebRTC signalling, and list_devices", () => {
    expect(allTopics.map((topic) => topic.name).sort()).toEqual(Object.keys(CONTRACTS).sort());
    expect(isTopicName('create_new_runtime')).toBe(true);
    expect(isTopicName('heartbeat')).toBe(false);
    expect(isTopicName('webrtc:offer')).toBe(true);
    // The old agent's design documents named a topic it never had.
    expect(findTopic('webrtc_debug_signal')).toBeUndefined();
  });

  it('answers start, stop and restart with an ack and a same-name event, everything else with an ack', () => {
    for (const topic of allTopics) {
      const expected = ['start_device', 'stop_device', 'restart_device'].includes(topic.name) ? 'ack+event' : 'ack';
      expect(topic.reply, topic.name).toBe(expected);
    }
  });

  it('treats only the get_* topics, list_devices and GET or HEAD commands (any case) as read-only', () => {
    const readOnly = allTopics.filter((topic) => topic.mutating === false).map((topic) => topic.name);
    expect(readOnly.sort()).toEqual([
      'get_consumption_device',
      'get_consumption_orchestrator',
      'get_device_status',
      'get_host_interfaces',
      'get_orchestrator_version',
      'get_serial_devices',
      'list_devices',
    ]);
    const runCommand = findTopic('run_command');
    const request = CONTRACTS.run_command.valid;
    for (const method of ['GET', 'get', 'HEAD', 'head']) {
      expect(isMutating(runCommand, { ...request, method }), method).toBe(false);
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'post']) {
      expect(isMutating(runCommand, { ...request, method }), method).toBe(true);
    }
  });

  it('never forbids unknown fields in any schema', () => {
    const walk = (node: unknown): void => {
      if (node === null || typeof node !== 'object') return;
      expect((node as Record<string, unknown>).additionalProperties).not.toBe(false);
      for (const child of Object.values(node)) walk(child);
    };
    for (const topic of allTopics) walk(topic.request);
  });
});

describe.each(Object.keys(CONTRACTS) as TopicName[])('%s contract', (topic) => {
  const { valid, fields } = CONTRACTS[topic];

  it('accepts the minimal request and returns the payload itself', () => {
    const result = validateRequest(topic, valid);
    expect(result).toEqual({ ok: true, value: valid });
    expect(result.ok && result.value).toBe(valid);
  });

  it('accepts unknown extra fields', () => {
    expect(validateRequest(topic, { ...valid, trace_id: 'x', nested: { deep: [1, 2] } }).ok).toBe(true);
  });

  it('refuses a payload that is not an object', () => {
    for (const payload of [null, [valid], 'plc1', 42, true, undefined])
      expectError(topic, payload, NOT_AN_OBJECT_ERROR);
  });

  for (const [field, kind, presence] of fields) {
    if (presence === 'required') {
      it(`reports a missing ${field} by name`, () => {
        const { [field]: _dropped, ...rest } = valid;
        expectError(topic, rest, `Missing required field: ${field}`);
      });
      it(`refuses null as ${field}`, () => {
        expect(validateRequest(topic, { ...valid, [field]: null }).ok).toBe(false);
      });
    } else {
      it(`accepts ${field} absent or null`, () => {
        const { [field]: _dropped, ...rest } = valid;
        expect(validateRequest(topic, rest).ok).toBe(true);
        expect(validateRequest(topic, { ...valid, [field]: null }).ok).toBe(true);
      });
    }
    if (kind !== 'any') {
      it(`reports a ${field} of the wrong type with its path`, () => {
        for (const [value, text] of WRONG[kind]) {
          expectError(topic, { ...valid, [field]: value }, `Invalid field type: ${field}: ${text}`);
        }
      });
    }
  }

  it('reports the first failure in declaration order', () => {
    const required = fields.filter(([, , presence]) => presence === 'required').map(([field]) => field);
    if (required.length === 0) {
      // Everything optional: two wrong types, the earlier one is reported.
      expectError(
        topic,
        { correlation_id: 'x', action: 5 },
        'Invalid field type: correlation_id: Value must be a number.',
      );
      return;
    }
    // Drop every required field and break every optional one: the first field in order wins.
    const payload: Record<string, unknown> = {};
    for (const [field, kind, presence] of fields) {
      if (presence === 'optional' && kind !== 'any') payload[field] = WRONG[kind][0]?.[0];
    }
    const [first] = fields.filter(([, kind]) => kind !== 'any');
    const [field, kind, presence] = first!;
    const expected =
      presence === 'required'
        ? `Missing required field: ${field}`
        : `Invalid field type: ${field}: ${WRONG[kind as Exclude<Kind, 'any'>][0]?.[1]}`;
    expectError(topic, payload, expected);
  });
});

describe('create_new_runtime nested items', () => {
  const valid = CONTRACTS.create_new_runtime.valid;
  const vnic = { name: 'lan', parent_interface: 'eth0', network_mode: 'static', ip: '192.168.1.77/24' };
  const serial = { name: 'modbus', device_id: 'usb-FTDI-if00-port0', container_path: '/dev/modbus0' };

  it('names the vNIC index and key of a missing field', () => {
    const { parent_interface: _p, ...broken } = vnic;
    expectError(
      'create_new_runtime',
      { ...valid, vnic_configs: [broken] },
      'Missing required field: vnic_configs[0].parent_interface',
    );
    expectError(
      'create_new_runtime',
      { ...valid, vnic_configs: [vnic, { ...vnic, network_mode: undefined }] },
      'Missing required field: vnic_configs[1].network_mode',
    );
  });

  it('names the vNIC index and key of a wrong type', () => {
    expectError(
      'create_new_runtime',
      { ...valid, vnic_configs: [{ ...vnic, name: 7 }] },
      'Invalid field type: vnic_configs[0].name: Value must be a string.',
    );
    expectError(
      'create_new_runtime',
      { ...valid, vnic_configs: [{ ...vnic, dns: ['1.1.1.1', 8] }] },
      'Invalid field type: vnic_configs[0].dns[1]: Value must be a string.',
    );
    expectError(
      'create_new_runtime',
      { ...valid, vnic_configs: [{ ...vnic, dns: '1.1.1.1' }] },
      'Invalid field type: vnic_configs[0].dns: Value must be a list.',
    );
  });

  it('refuses a vNIC that is not an object', () => {
    for (const item of ['eth0', 3, null, [vnic]]) {
      expectError(
        'create_new_runtime',
        { ...valid, vnic_configs: [vnic, item] },
        'Invalid field type: vnic_configs[1]: Value must be an object.',
      );
    }
  });

  it('names the serial index and key', () => {
    const { container_path: _c, ...broken } = serial;
    expectError(
      'create_new_runtime',
      { ...valid, serial_configs: [serial, broken] },
      'Missing required field: serial_configs[1].container_path',
    );
    expectError(
      'create_new_runtime',
      { ...valid, serial_configs: [{ ...serial, baud_rate: '9600' }] },
      'Invalid field type: serial_configs[0].baud_rate: Value must be a number.',
    );
  });

  it("checks vNIC keys in the old agent's order and reports the first", () => {
    expectError(
      'create_new_runtime',
      { ...valid, vnic_configs: [{ mac: 5, network_mode: 1 }] },
      'Missing required field: vnic_configs[0].name',
    );
    expectError(
      'create_new_runtime',
      { ...valid, vnic_configs: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp', ip: 1, mac: 2 }] },
      'Invalid field type: vnic_configs[0].ip: Value must be a string.',
    );
  });

  it('reports top-level fields before nested ones declared later', () => {
    expectError(
      'create_new_runtime',
      { correlation_id: 1, vnic_configs: [{}] },
      'Missing required field: container_name',
    );
  });

  it('accepts optional vNIC and serial keys as null and keeps unknown keys', () => {
    const request = {
      ...valid,
      vnic_configs: [
        { ...vnic, subnet: null, gateway: null, dns: null, mac: null, ip: null, parent_subnet: 'x', mac_address: 'y' },
      ],
      serial_configs: [{ ...serial, baud_rate: null, extra: true }],
    };
    const result = validateRequest('create_new_runtime', request);
    expect(result.ok).toBe(true);
    expect(result.ok && result.value.vnic_configs[0]).toHaveProperty('parent_subnet', 'x');
  });

  it('checks dedicated_interface as the newest releases do: absent, null or an interface name', () => {
    expect(validateRequest('create_new_runtime', valid).ok).toBe(true);
    expect(validateRequest('create_new_runtime', { ...valid, dedicated_interface: null }).ok).toBe(true);
    const ok = validateRequest('create_new_runtime', { ...valid, dedicated_interface: 'enp3s0' });
    expect(ok.ok && ok.value.dedicated_interface).toBe('enp3s0');
    const nameText =
      'Invalid field type: dedicated_interface: Value must be a valid Linux interface name (alphanumeric, dots, dashes, underscores, max 15 chars).';
    for (const bad of ['', 'eth0/../x', 'a-name-longer-than-15', 'eth 0']) {
      const result = validateRequest('create_new_runtime', { ...valid, dedicated_interface: bad });
      expect(result.ok ? null : result.error).toBe(nameText);
    }
    const wrongType = validateRequest('create_new_runtime', { ...valid, dedicated_interface: 3 });
    expect(wrongType.ok ? null : wrongType.error).toBe(
      'Invalid field type: dedicated_interface: Value must be a string.',
    );
  });

  it('accepts an empty vNIC list and bad vNIC values: the handler words those refusals', () => {
    expect(validateRequest('create_new_runtime', { ...valid, vnic_configs: [] }).ok).toBe(true);
    expect(
      validateRequest('create_new_runtime', { ...valid, vnic_configs: [{ ...vnic, network_mode: 'DHCP', mac: 'zz' }] })
        .ok,
    ).toBe(true);
  });

  it('gives requests that the vPLC domain types accept as they are', () => {
    const result = validateRequest('create_new_runtime', { ...valid, serial_configs: [serial] });
    if (!result.ok) throw new Error(result.error);
    const request: CreateNewRuntimeRequest = result.value;
    const vnics: VnicConfig[] = request.vnic_configs;
    const serials: SerialConfig[] = request.serial_configs ?? [];
    const sameType: TopicRequests['create_new_runtime'] = request;
    expect([vnics.length, serials.length, sameType.container_name]).toEqual([1, 1, 'plc1']);
  });
});

describe('requested_at (DateType)', () => {
  // Each verdict is what CPython 3.11.7 `datetime.fromisoformat(s.replace('Z', '+00:00'))` returned.
  const verdicts: Array<[string, boolean]> = [
    ['2024-01-01', true],
    ['2024-01-01T12:00:00', true],
    ['2024-01-01T12:00:00.123456+02:00', true],
    ['2024-01-01T12:00:00Z', true],
    ['2026-01-20T10:00:00.123456', true],
    ['2024-01-01T12:00:00.123Z', true],
    ['2024-02-29', true],
    ['2023-02-29', false],
    ['2024-13-01', false],
    ['2024-00-10', false],
    ['2024-01-32', false],
    ['0000-01-01', false],
    ['0001-01-01', true],
    ['9999-12-31T23:59:59.999999', true],
    ['20240101', true],
    ['20240101T120000', true],
    ['2024-W01', true],
    ['2024W01', true],
    ['2024-W01-1', true],
    ['2024W017', true],
    ['2024-W53', false],
    ['2020-W53', true],
    ['2026-W53-7', true],
    ['2024-W00', false],
    ['2024-W01-8', false],
    ['2024-01', false],
    ['2024', false],
    ['', false],
    ['Z', false],
    ['2024-01-01T', false],
    ['2024-01-01T24:00', false],
    ['2024-01-01T23:60', false],
    ['2024-01-01T23:59:60', false],
    ['2024-01-01T12:00:00.', false],
    ['2024-01-01T12:00:00,5', true],
    ['2024-01-01 12:00', true],
    ['2024-01-01x12:00', true],
    ['2024-01-01é12:00', true],
    ['2024-01-01T1', false],
    ['2024-01-01T12', true],
    ['2024-01-01T1200', true],
    ['2024-01-01T12:0000', false],
    ['2024-01-01T12:00:00.1234567', true],
    ['2024-01-01T12:00:00+24:00', false],
    ['2024-01-01T12:00:00+23:59', true],
    ['2024-01-01T12:00:00+00:99', true],
    ['2024-01-01T12:00:00-02:00:30.5', true],
    ['2024-01-01T12:00:00ZZ', false],
    ['2024-01-01T12:00:00+', false],
    ['2024-01-01T12:00:00z', false],
    ['2024-01-01t12:00', true],
    ['2024-01-01T12:00:00:5', true],
    ['2024-01-01T12000012', true],
    ['2024-1-1', false],
    ['24-01-01', false],
    ['2024-01-01T12:00 ', false],
    ['  2024-01-01', false],
    ['2024-01-01T12:00:00.123456789+05:30', true],
    ['2024-01-01T12+02', true],
    ['2024-01-01T12:00+0230', true],
    ['not a date', false],
    ['2024-01-01T12:00:00Z+01:00', false],
    ['2024-01-01Z', true],
    ['9999-W52-5', true],
    ['9999-W52-6', false],
    ['1999-W52-7T00:00', true],
    ['2024-06-15T08:30:00.000Z', true],
    ['2024-06-15T08:30:00.000+00:00', true],
    ['2024W01é05', true],
    ['2024-07é28', false],
  ];

  it.each(verdicts)('%j -> %s, as Python 3.11 decides', (value, accepted) => {
    expect(isPythonIsoDateTime(value)).toBe(accepted);
    const result = validateRequest('get_device_status', { device_id: 'plc1', requested_at: value });
    expect(result.ok).toBe(accepted);
    if (!result.ok)
      expect(result.error).toBe('Invalid field type: requested_at: Value must be a valid ISO datetime string.');
  });

  it('is checked on delete_device and run_command too', () => {
    expectError(
      'delete_device',
      { correlation_id: 1, device_id: 'plc1', requested_at: 'now' },
      'Invalid field type: requested_at: Value must be a valid ISO datetime string.',
    );
    expectError(
      'run_command',
      { ...CONTRACTS.run_command.valid, requested_at: 'now' },
      'Invalid field type: requested_at: Value must be a valid ISO datetime string.',
    );
  });
});

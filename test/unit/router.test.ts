import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { IdempotencyCache } from '../../src/io/cloud/idempotency.js';
import { type TopicContext, type TopicHandlers, TopicRouter } from '../../src/io/cloud/router.js';
import { allTopics, type TopicName } from '../../src/io/cloud/topics/index.js';

/** A minimal valid request per topic, and one required field to drop and one field to break. */
const CASES: Record<TopicName, { valid: Record<string, unknown>; missing?: string; wrong: [string, unknown, string] }> =
  {
    create_new_runtime: {
      valid: {
        correlation_id: 42,
        container_name: 'plc1',
        vnic_configs: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' }],
      },
      missing: 'container_name',
      wrong: ['vnic_configs', {}, 'Value must be a list.'],
    },
    delete_device: {
      valid: { correlation_id: 7, device_id: 'plc1' },
      missing: 'device_id',
      wrong: ['device_id', 1, 'Value must be a string.'],
    },
    delete_orchestrator: { valid: { correlation_id: 9 }, wrong: ['action', 1, 'Value must be a string.'] },
    upgrade_orchestrator: { valid: { correlation_id: 22 }, wrong: ['action', 1, 'Value must be a string.'] },
    run_command: {
      valid: { correlation_id: 12345, device_id: 'plc1', method: 'GET', api: '/api/status' },
      missing: 'api',
      wrong: ['port', '8443', 'Value must be a number.'],
    },
    get_consumption_device: {
      valid: { correlation_id: 5, device_id: 'plc1', cpuPeriod: '1h', memoryPeriod: '1h' },
      missing: 'memoryPeriod',
      wrong: ['cpuPeriod', 60, 'Value must be a string.'],
    },
    get_consumption_orchestrator: {
      valid: { correlation_id: 6, cpuPeriod: '1h', memoryPeriod: '1h' },
      missing: 'cpuPeriod',
      wrong: ['memoryPeriod', [], 'Value must be a string.'],
    },
    get_device_status: {
      valid: { correlation_id: 1, device_id: 'plc1' },
      missing: 'device_id',
      wrong: ['requested_at', 'soon', 'Value must be a valid ISO datetime string.'],
    },
    get_host_interfaces: {
      valid: { correlation_id: 3 },
      wrong: ['include_virtual', 'yes', 'Value must be a boolean.'],
    },
    get_serial_devices: {
      valid: { correlation_id: 4 },
      wrong: ['requested_at', 5, 'Value must be a valid ISO datetime string.'],
    },
    list_devices: {
      valid: { correlation_id: 4 },
      wrong: ['correlation_id', 'x', 'Value must be a number.'],
    },
    get_orchestrator_version: {
      valid: { correlation_id: 21 },
      wrong: ['requested_at', 'soon', 'Value must be a valid ISO datetime string.'],
    },
    start_device: {
      valid: { correlation_id: 8, device_id: 'plc1' },
      missing: 'device_id',
      wrong: ['device_id', null, 'Value must be a string.'],
    },
    stop_device: {
      valid: { correlation_id: 8, device_id: 'plc1' },
      missing: 'device_id',
      wrong: ['device_id', false, 'Value must be a string.'],
    },
    restart_device: {
      valid: { correlation_id: 8, device_id: 'plc1' },
      missing: 'device_id',
      wrong: ['correlation_id', true, 'Value must be a number.'],
    },
    'webrtc:offer': {
      valid: { correlation_id: 31, session_id: 's-1', device_id: 'plc1', sdp: 'v=0\r\n', sdp_type: 'offer' },
      missing: 'sdp_type',
      wrong: ['sdp', 1, 'Value must be a string.'],
    },
    'webrtc:ice': {
      valid: { correlation_id: 32, session_id: 's-1', candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host' },
      missing: 'session_id',
      wrong: ['sdp_mline_index', '0', 'Value must be a number.'],
    },
    'webrtc:disconnect': {
      valid: { correlation_id: 33, session_id: 's-1' },
      missing: 'session_id',
      wrong: ['reason', 5, 'Value must be a string.'],
    },
  };

const TOPICS = allTopics.map((topic) => topic.name);

interface Call {
  topic: TopicName;
  request: unknown;
  ctx: TopicContext;
}

/** Handlers that record their calls and answer `{status: 'success', handled: <topic>}` unless overridden. */
function makeHandlers(
  overrides: Partial<Record<TopicName, (request: unknown, ctx: TopicContext) => Promise<Record<string, unknown>>>> = {},
) {
  const calls: Call[] = [];
  const handlers = Object.fromEntries(
    TOPICS.map((topic) => [
      topic,
      async (request: unknown, ctx: TopicContext) => {
        calls.push({ topic, request, ctx });
        const override = overrides[topic];
        return override ? override(request, ctx) : { status: 'success', handled: topic };
      },
    ]),
  ) as unknown as TopicHandlers;
  return { handlers, calls };
}

function captureLog() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

/** Dispatches with an ack and resolves with every ack call's arguments. */
async function request(router: TopicRouter, topic: string, ...payloads: unknown[]) {
  const acks: unknown[][] = [];
  const emitted: Array<[string, object]> = [];
  await router.dispatch(topic, [...payloads, (...reply: unknown[]) => acks.push(reply)], (event, payload) =>
    emitted.push([event, payload]),
  );
  return { acks, emitted, reply: acks[0]?.[0] as Record<string, unknown> | undefined };
}

const silent = pino({ level: 'silent' });

describe('TopicRouter', () => {
  it('routes every topic of the contract', () => {
    const router = new TopicRouter({ handlers: makeHandlers().handlers, log: silent });
    expect(router.topics().sort()).toEqual([...TOPICS].sort());
  });

  describe.each(TOPICS)('%s', (topic) => {
    const { valid, missing, wrong } = CASES[topic];

    it('acks the handler result with action and correlation_id first', async () => {
      const { handlers, calls } = makeHandlers();
      const router = new TopicRouter({ handlers, log: silent });
      const { acks, reply } = await request(router, topic, valid);
      expect(acks).toHaveLength(1);
      expect(acks[0]).toHaveLength(1);
      expect(reply).toEqual({ action: topic, correlation_id: valid.correlation_id, status: 'success', handled: topic });
      expect(Object.keys(reply!).slice(0, 2)).toEqual(['action', 'correlation_id']);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.request).toBe(valid);
    });

    if (missing) {
      it(`answers a missing ${missing} with the correlation_id and never calls the handler`, async () => {
        const { handlers, calls } = makeHandlers();
        const router = new TopicRouter({ handlers, log: silent });
        const { [missing]: _dropped, ...payload } = valid;
        const { acks, reply } = await request(router, topic, payload);
        expect(acks).toHaveLength(1);
        expect(reply).toEqual({
          status: 'error',
          error: `Missing required field: ${missing}`,
          action: topic,
          correlation_id: valid.correlation_id,
        });
        expect(calls).toHaveLength(0);
      });
    }

    it(`answers a wrong ${wrong[0]} type with the correlation_id as sent`, async () => {
      const { handlers, calls } = makeHandlers();
      const router = new TopicRouter({ handlers, log: silent });
      const [field, value, text] = wrong;
      const payload = { ...valid, [field]: value };
      const { acks, reply } = await request(router, topic, payload);
      expect(acks).toHaveLength(1);
      expect(reply).toEqual({
        status: 'error',
        error: `Invalid field type: ${field}: ${text}`,
        action: topic,
        correlation_id: payload.correlation_id,
      });
      expect(calls).toHaveLength(0);
    });

    it('answers a payload that is not one JSON object', async () => {
      const { handlers, calls } = makeHandlers();
      const router = new TopicRouter({ handlers, log: silent });
      const error = 'Validation error: the request payload must be a JSON object';
      for (const args of [[[valid]], [null], ['plc1'], [7], []]) {
        const { acks, reply } = await request(router, topic, ...args);
        expect(acks).toHaveLength(1);
        expect(reply).toEqual({ status: 'error', error, action: topic, correlation_id: null });
      }
      // Two arguments: still refused, and the object's correlation_id is echoed.
      const { reply } = await request(router, topic, valid, { more: true });
      expect(reply).toEqual({ status: 'error', error, action: topic, correlation_id: valid.correlation_id });
      expect(calls).toHaveLength(0);
    });

    it('accepts unknown extra fields', async () => {
      const { handlers, calls } = makeHandlers();
      const router = new TopicRouter({ handlers, log: silent });
      const { reply } = await request(router, topic, { ...valid, trace: { id: 'abc' }, retry: 2 });
      expect(reply?.status).toBe('success');
      expect(calls).toHaveLength(1);
    });

    it('still acks when the handler throws, and logs the stack', async () => {
      const { log, lines } = captureLog();
      const { handlers } = makeHandlers({
        [topic]: async () => {
          throw new Error('engine refused the request');
        },
      });
      const router = new TopicRouter({ handlers, log });
      const { acks, reply } = await request(router, topic, valid);
      expect(acks).toHaveLength(1);
      expect(reply).toEqual({
        status: 'error',
        error: `${topic} failed: engine refused the request`,
        action: topic,
        correlation_id: valid.correlation_id,
      });
      expect(lines.join('')).toContain('at ');
      expect(lines.join('')).toContain('engine refused the request');
    });
  });

  it('echoes any correlation_id as sent in error replies, or null when absent', async () => {
    const router = new TopicRouter({ handlers: makeHandlers().handlers, log: silent });
    const asString = await request(router, 'delete_device', { correlation_id: 'abc', device_id: 'plc1' });
    expect(asString.reply).toMatchObject({
      error: 'Invalid field type: correlation_id: Value must be a number.',
      correlation_id: 'abc',
    });
    const absent = await request(router, 'delete_device', { device_id: ' ' });
    expect(absent.reply).toMatchObject({
      error: 'Invalid field type: device_id: Value must be a non-empty string.',
      correlation_id: null,
    });
    const nested = await request(router, 'create_new_runtime', {
      correlation_id: 3,
      container_name: 'plc1',
      vnic_configs: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' }],
      serial_configs: [
        { name: 'a', device_id: 'x', container_path: '/dev/a' },
        { name: 'b', device_id: 'y' },
      ],
    });
    expect(nested.reply).toEqual({
      status: 'error',
      error: 'Missing required field: serial_configs[1].container_path',
      action: 'create_new_runtime',
      correlation_id: 3,
    });
  });

  it('answers an unknown topic that asked for an ack', async () => {
    const { handlers, calls } = makeHandlers();
    const router = new TopicRouter({ handlers, log: silent });
    const { acks, reply } = await request(router, 'webrtc_debug_signal', { correlation_id: 11, sdp: 'v=0' });
    expect(acks).toHaveLength(1);
    expect(reply).toEqual({
      status: 'error',
      error: 'Unknown topic webrtc_debug_signal: this agent does not handle it',
      action: 'webrtc_debug_signal',
      correlation_id: 11,
    });
    expect(calls).toHaveLength(0);
  });

  it('runs the handler and drops the reply when the cloud asked for no ack', async () => {
    const { log, lines } = captureLog();
    const { handlers, calls } = makeHandlers();
    const router = new TopicRouter({ handlers, log });
    await expect(
      router.dispatch('delete_device', [{ correlation_id: 1, device_id: 'plc1' }], () => {}),
    ).resolves.toBeUndefined();
    await expect(router.dispatch('delete_device', [{ correlation_id: 2 }], () => {})).resolves.toBeUndefined();
    await expect(router.dispatch('nope', [], () => {})).resolves.toBeUndefined();
    await expect(router.dispatch('get_serial_devices', [], () => {})).resolves.toBeUndefined();
    expect(calls).toHaveLength(1);
    expect(lines.filter((line) => line.includes('no ack'))).toHaveLength(4);
  });

  it('answers a handler that exceeds its timeout once, aborts its signal and ignores its late result', async () => {
    let signal: AbortSignal | undefined;
    let finish: (value: Record<string, unknown>) => void = () => {};
    const { handlers } = makeHandlers({
      create_new_runtime: (_request, ctx) => {
        signal = ctx.signal;
        return new Promise((resolve) => {
          finish = resolve;
        });
      },
    });
    const router = new TopicRouter({ handlers, log: silent, timeoutMs: 20 });
    const { acks, reply } = await request(router, 'create_new_runtime', CASES.create_new_runtime.valid);
    expect(acks).toHaveLength(1);
    expect(reply).toMatchObject({ status: 'error', action: 'create_new_runtime', correlation_id: 42 });
    expect(reply?.error).toMatch(/^create_new_runtime did not finish within 0\.02 s; .*get_device_status/);
    expect(signal?.aborted).toBe(true);
    finish({ status: 'creating' });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(acks).toHaveLength(1);
  });

  it('also ignores a handler that fails after its timeout', async () => {
    let fail: (error: Error) => void = () => {};
    const { handlers } = makeHandlers({
      get_device_status: () =>
        new Promise((_resolve, reject) => {
          fail = reject;
        }),
    });
    const router = new TopicRouter({
      handlers,
      log: silent,
      timeoutMs: 60_000,
      topicTimeoutsMs: { get_device_status: 10 },
    });
    const { acks, reply } = await request(router, 'get_device_status', CASES.get_device_status.valid);
    expect(reply?.error).toMatch(/^get_device_status did not finish within 0\.01 s; .*try again/);
    fail(new Error('late'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(acks).toHaveLength(1);
  });

  it('acks a handler that throws synchronously', async () => {
    const { handlers } = makeHandlers();
    handlers.get_serial_devices = (() => {
      throw new TypeError('boom');
    }) as unknown as TopicHandlers['get_serial_devices'];
    const router = new TopicRouter({ handlers, log: silent });
    const { acks, reply } = await request(router, 'get_serial_devices', { correlation_id: 4 });
    expect(acks).toHaveLength(1);
    expect(reply).toMatchObject({ status: 'error', error: 'get_serial_devices failed: boom' });
  });

  it('keeps action and correlation_id authoritative over what a handler returns', async () => {
    const { handlers } = makeHandlers({
      get_serial_devices: async () => ({
        action: 'other',
        correlation_id: 99,
        status: 'success',
        devices: [],
        count: 0,
      }),
    });
    const router = new TopicRouter({ handlers, log: silent });
    const { reply } = await request(router, 'get_serial_devices', { correlation_id: 4 });
    expect(reply).toEqual({
      action: 'get_serial_devices',
      correlation_id: 4,
      status: 'success',
      devices: [],
      count: 0,
    });
    const absent = await request(router, 'get_serial_devices', {});
    expect(absent.reply).toMatchObject({ action: 'get_serial_devices', correlation_id: null });
  });

  it('lets start_device ack first and emit its same-name event later', async () => {
    let later: Promise<void> = Promise.resolve();
    const { handlers } = makeHandlers({
      start_device: async (request, ctx) => {
        const { correlation_id, device_id } = request as { correlation_id: number; device_id: string };
        later = Promise.resolve().then(() =>
          ctx.emit('start_device', { action: 'start_device', correlation_id, success: true, device_id }),
        );
        return { status: 'accepted', device_id, message: `Starting ${device_id}` };
      },
    });
    const router = new TopicRouter({ handlers, log: silent });
    const { reply, emitted } = await request(router, 'start_device', { correlation_id: 8, device_id: 'plc1' });
    expect(reply).toEqual({
      action: 'start_device',
      correlation_id: 8,
      status: 'accepted',
      device_id: 'plc1',
      message: 'Starting plc1',
    });
    await later;
    expect(emitted).toEqual([
      ['start_device', { action: 'start_device', correlation_id: 8, success: true, device_id: 'plc1' }],
    ]);
  });

  it('logs topic, correlation_id, duration and status, never run_command headers, data or files', async () => {
    const { log, lines } = captureLog();
    const { handlers } = makeHandlers({
      run_command: async () => {
        throw new Error('runtime unreachable');
      },
    });
    const router = new TopicRouter({ handlers, log, idempotency: new IdempotencyCache() });
    const secret = 'Bearer s3cr3t-token';
    await request(router, 'run_command', {
      ...CASES.run_command.valid,
      method: 'POST',
      headers: { Authorization: secret },
      data: { password: 'hunter2' },
      files: { program: { content_base64: 'c2VjcmV0' } },
    });
    await request(router, 'run_command', { ...CASES.run_command.valid, headers: { Authorization: secret } });
    await request(router, 'run_command', { correlation_id: 1, headers: { Authorization: secret } });
    const text = lines.join('');
    for (const leaked of ['s3cr3t', 'hunter2', 'c2VjcmV0', 'Authorization']) expect(text).not.toContain(leaked);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((e) => 'duration_ms' in e);
    expect(entries).toHaveLength(3);
    for (const entry of entries) {
      expect(entry).toMatchObject({ topic: 'run_command', status: expect.any(String) });
      expect(typeof entry.duration_ms).toBe('number');
      expect(entry).toHaveProperty('correlation_id');
    }
  });

  it('measures duration with the injected clock', async () => {
    const { log, lines } = captureLog();
    let clock = 1_000;
    const { handlers } = makeHandlers({
      get_serial_devices: async () => {
        clock += 250;
        return { status: 'success', devices: [], count: 0 };
      },
    });
    const router = new TopicRouter({ handlers, log, now: () => clock });
    await request(router, 'get_serial_devices', { correlation_id: 4 });
    const entry = lines.map((line) => JSON.parse(line)).find((e) => 'duration_ms' in e);
    expect(entry).toMatchObject({ duration_ms: 250, status: 'success', correlation_id: 4 });
  });
});

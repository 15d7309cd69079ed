import { Writable } from 'node:stream';
import pino from 'pino';
import { Encoder, PacketType } from 'socket.io-parser';
import { describe, expect, it } from 'vitest';
import { IdempotencyCache, idempotencyKey } from '../../src/io/cloud/idempotency.js';
import { type TopicContext, type TopicHandlers, TopicRouter } from '../../src/io/cloud/router.js';
import { allTopics } from '../../src/io/cloud/topics/index.js';
import { MAX_JSON_DEPTH, MAX_REQUEST_VALUES } from '../../src/model/jsonShape.js';

/** What the cloud can send that no legitimate request looks like, and what the router must still answer. */

const silent = pino({ level: 'silent' });

function handlers(reply: (topic: string, request: unknown) => unknown = () => ({ status: 'success' })) {
  const calls: string[] = [];
  const table = Object.fromEntries(
    allTopics.map((topic) => [
      topic.name,
      async (request: unknown, _ctx: TopicContext) => {
        calls.push(topic.name);
        return reply(topic.name, request);
      },
    ]),
  ) as unknown as TopicHandlers;
  return { table, calls };
}

/** Dispatches once; resolves with every ack call (there must be exactly one) and whether dispatch itself failed. */
async function send(router: TopicRouter, topic: string, payload: unknown) {
  const acks: unknown[][] = [];
  let failed: unknown = null;
  await router
    .dispatch(topic, [payload, (...reply: unknown[]) => acks.push(reply)], () => {})
    .catch((err) => {
      failed = err;
    });
  return { acks, failed, reply: acks[0]?.[0] as Record<string, unknown> | undefined };
}

function nested(levels: number, leaf: unknown = 1): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { a: value };
  return value;
}

describe('the idempotency key', () => {
  it('is computed without recursion: 5,000 levels of nesting give a key instead of a stack overflow', () => {
    expect(idempotencyKey('delete_device', 1, { correlation_id: 1, extra: nested(5_000) })).toMatch(/^[0-9a-f]{64}$/);
  });

  it('still ignores key order at every level and tells different payloads apart', () => {
    const a = idempotencyKey('t', 1, { x: { b: [1, { d: 2, c: 3 }], a: 'z' } });
    expect(idempotencyKey('t', 1, { x: { a: 'z', b: [1, { c: 3, d: 2 }] } })).toBe(a);
    expect(idempotencyKey('t', 1, { x: { a: 'z', b: [{ c: 3, d: 2 }, 1] } })).not.toBe(a);
    expect(idempotencyKey('t', 1, { x: { a: 'z', b: [1, { c: 3, d: '2' }] } })).not.toBe(a);
  });
});

describe('requests the router refuses by their shape', () => {
  it('answers a mutating request nested 5,000 levels deep exactly once, without running the handler', async () => {
    const { table, calls } = handlers();
    const router = new TopicRouter({ handlers: table, log: silent, idempotency: new IdempotencyCache() });
    const { acks, failed, reply } = await send(router, 'delete_device', {
      correlation_id: 5,
      device_id: 'plc1',
      trace: nested(5_000),
    });
    expect(failed).toBeNull();
    expect(acks).toHaveLength(1);
    expect(reply).toEqual({
      status: 'error',
      error: `Validation error: the request is nested more than ${MAX_JSON_DEPTH} levels deep`,
      action: 'delete_device',
      correlation_id: 5,
    });
    expect(calls).toEqual([]);
  });

  it('accepts a request exactly at the depth limit', async () => {
    const { table, calls } = handlers();
    const router = new TopicRouter({ handlers: table, log: silent, idempotency: new IdempotencyCache() });
    const { reply } = await send(router, 'delete_device', {
      correlation_id: 6,
      device_id: 'plc1',
      trace: nested(MAX_JSON_DEPTH - 1),
    });
    expect(reply?.status).toBe('success');
    expect(calls).toEqual(['delete_device']);
  });

  it('refuses a 5 MiB request made of 2.6 million small values quickly, before the idempotency key is computed', async () => {
    const { table, calls } = handlers();
    const router = new TopicRouter({ handlers: table, log: silent, idempotency: new IdempotencyCache() });
    const data = new Array<number>(2_621_440).fill(0);
    const started = performance.now();
    const { acks, reply } = await send(router, 'run_command', {
      correlation_id: 7,
      device_id: 'plc1',
      method: 'POST',
      api: '/api/settings',
      data,
    });
    const elapsed = performance.now() - started;
    expect(acks).toHaveLength(1);
    expect(reply).toMatchObject({
      status: 'error',
      error: `Validation error: the request holds more than ${MAX_REQUEST_VALUES.toLocaleString('en-US')} values`,
      correlation_id: 7,
    });
    expect(calls).toEqual([]);
    // Refused by counting the array's length, not by walking it: far below the second the key used to take.
    expect(elapsed).toBeLessThan(250);
  });

  it('keys a 5 MiB upload quickly and replays it', async () => {
    const { table, calls } = handlers();
    const router = new TopicRouter({ handlers: table, log: silent, idempotency: new IdempotencyCache() });
    const payload = {
      correlation_id: 8,
      device_id: 'plc1',
      method: 'POST',
      api: '/api/upload-file',
      files: { file: { filename: 'plc.zip', content_base64: 'QUFB'.repeat(1_310_720) } },
    };
    const started = performance.now();
    const first = await send(router, 'run_command', payload);
    const elapsed = performance.now() - started;
    const second = await send(router, 'run_command', structuredClone(payload));
    expect(first.reply?.status).toBe('success');
    expect(second.reply).toEqual(first.reply);
    expect(calls).toEqual(['run_command']);
    expect(elapsed).toBeLessThan(500);
  });

  it('refuses binary attachments: a request is JSON', async () => {
    const { table, calls } = handlers();
    const router = new TopicRouter({ handlers: table, log: silent, idempotency: new IdempotencyCache() });
    const { reply } = await send(router, 'run_command', {
      correlation_id: 9,
      device_id: 'plc1',
      method: 'POST',
      api: '/api/upload-file',
      data: Buffer.from('binary'),
    });
    expect(reply).toMatchObject({
      status: 'error',
      error: 'Validation error: the request carries binary data; send JSON only (files as content_base64)',
    });
    expect(calls).toEqual([]);
  });
});

/**
 * An ack that behaves like Socket.IO's: it marks itself sent, then encodes the reply with Socket.IO's own encoder,
 * which walks it recursively and JSON.stringifies it. `sent` holds what actually went out.
 */
function socketIoAck() {
  const encoder = new Encoder();
  const sent: unknown[] = [];
  let called = 0;
  const ack = (...args: unknown[]) => {
    called++;
    if (called > 1) return;
    const [packet] = encoder.encode({ type: PacketType.ACK, id: 1, nsp: '/', data: args });
    sent.push(JSON.parse(String(packet).replace(/^\d+/, ''))[0]);
  };
  return { ack, sent, calls: () => called };
}

async function sendThroughSocketIo(router: TopicRouter, topic: unknown, payload: unknown) {
  const { ack, sent, calls } = socketIoAck();
  await router.dispatch(topic, [payload, ack], () => {});
  expect(calls()).toBe(1);
  expect(sent).toHaveLength(1);
  return sent[0] as Record<string, unknown>;
}

const GET_STATUS = { correlation_id: 12345, device_id: 'plc1', method: 'GET', api: '/api/status' };

describe('replies Socket.IO cannot encode', () => {
  it.each([
    ['a runtime body nested 5,000 levels deep', () => ({ body: nested(5_000) }), 'is nested more than 72 levels deep'],
    ['a BigInt', () => ({ body: { counter: 10n ** 30n } }), 'holds a value JSON cannot encode (bigint)'],
    [
      'a cycle',
      () => {
        const body: Record<string, unknown> = {};
        body.self = body;
        return { body };
      },
      'refers to itself',
    ],
  ])('answers a handler reply with %s by one error reply naming the correlation_id', async (_name, body, problem) => {
    const { table } = handlers(() => ({ status: 'success', http_response: { status_code: 200, ok: true, ...body() } }));
    const router = new TopicRouter({ handlers: table, log: silent });
    const reply = await sendThroughSocketIo(router, 'run_command', GET_STATUS);
    expect(reply).toEqual({
      status: 'error',
      error: `run_command could not be answered (correlation_id 12345): its reply ${problem}, which the agent cannot send`,
      action: 'run_command',
      correlation_id: 12345,
    });
  });

  it('does not remember a replaced reply: a repeat of the command runs again', async () => {
    let runs = 0;
    const { table } = handlers(() => ({ status: 'success', run: ++runs, body: nested(5_000) }));
    const router = new TopicRouter({ handlers: table, log: silent, idempotency: new IdempotencyCache() });
    const post = { ...GET_STATUS, method: 'POST', api: '/api/start-plc' };
    await sendThroughSocketIo(router, 'run_command', post);
    await sendThroughSocketIo(router, 'run_command', post);
    expect(runs).toBe(2);
  });

  it('answers a correlation_id nested 5,000 levels deep once, with correlation_id null', async () => {
    const { table, calls } = handlers();
    const router = new TopicRouter({ handlers: table, log: silent });
    const deep = await sendThroughSocketIo(router, 'get_device_status', {
      correlation_id: nested(5_000),
      device_id: 'plc1',
    });
    expect(deep).toEqual({
      status: 'error',
      error: `Validation error: the request is nested more than ${MAX_JSON_DEPTH} levels deep`,
      action: 'get_device_status',
      correlation_id: null,
    });
    const shallower = await sendThroughSocketIo(router, 'get_device_status', {
      correlation_id: nested(40),
      device_id: 'plc1',
    });
    expect(shallower).toEqual({
      status: 'error',
      error: 'Invalid field type: correlation_id: Value must be a number.',
      action: 'get_device_status',
      correlation_id: null,
    });
    expect(calls).toEqual([]);
  });

  it('echoes a small odd correlation_id as sent, and a 1 MiB one as null', async () => {
    const router = new TopicRouter({ handlers: handlers().table, log: silent });
    const small = await sendThroughSocketIo(router, 'delete_device', { correlation_id: { id: 'abc' }, device_id: 'x' });
    expect(small.correlation_id).toEqual({ id: 'abc' });
    const huge = await sendThroughSocketIo(router, 'delete_device', { correlation_id: 'x'.repeat(1 << 20) });
    expect(huge.correlation_id).toBeNull();
    expect(JSON.stringify(huge).length).toBeLessThan(1_000);
  });

  it('answers an event named by a number, and cuts a 1 MiB topic name in the reply', async () => {
    const router = new TopicRouter({ handlers: handlers().table, log: silent });
    expect(await sendThroughSocketIo(router, 42, { correlation_id: 1 })).toMatchObject({
      error: 'Unknown topic 42: this agent does not handle it',
      action: '42',
    });
    const long = await sendThroughSocketIo(router, 'x'.repeat(1 << 20), { correlation_id: 2 });
    expect(long.error).toMatch(/^Unknown topic x{200}… \(1048376 more characters\): this agent does not handle it$/);
    expect(JSON.stringify(long).length).toBeLessThan(1_000);
  });
});

describe('the idempotency cache in bytes', () => {
  const MiB = 1024 * 1024;
  const bigReply = (run: number) => ({
    status: 'success',
    http_response: { status_code: 200, ok: true, body: `${run}:${'x'.repeat(MiB - 16)}` },
  });

  it('keeps at most its byte budget of replies: the oldest large replies are forgotten first', async () => {
    let runs = 0;
    const { table } = handlers(() => bigReply(++runs));
    const idempotency = new IdempotencyCache({ maxBytes: 8 * MiB, maxReplyBytes: 2 * MiB });
    const router = new TopicRouter({ handlers: table, log: silent, idempotency });
    const post = (id: number) => ({ correlation_id: id, device_id: 'plc1', method: 'POST', api: '/api/logs' });
    for (let id = 1; id <= 20; id++) await send(router, 'run_command', post(id));
    expect(idempotency.bytes).toBeLessThanOrEqual(8 * MiB);
    expect(idempotency.bytes).toBeGreaterThan(6 * MiB);
    // The newest is still answered from the cache; the oldest was forgotten and runs again.
    await send(router, 'run_command', post(20));
    expect(runs).toBe(20);
    await send(router, 'run_command', post(1));
    expect(runs).toBe(21);
  });

  it('answers a repeat of a command whose reply was too large to keep without running it again', async () => {
    let runs = 0;
    const { table } = handlers(() => bigReply(++runs));
    const idempotency = new IdempotencyCache({ maxReplyBytes: 256 * 1024 });
    const router = new TopicRouter({ handlers: table, log: silent, idempotency });
    const post = { correlation_id: 3, device_id: 'plc1', method: 'POST', api: '/api/logs' };
    const first = await send(router, 'run_command', post);
    expect(first.reply?.status).toBe('success');
    const repeat = await send(router, 'run_command', post);
    expect(runs).toBe(1);
    expect(repeat.reply).toMatchObject({
      action: 'run_command',
      correlation_id: 3,
      status: 'error',
      error: expect.stringMatching(
        /^This request was already carried out at .*Z \(the runtime answered HTTP 200\); its reply \(about 1 MiB\) is too large to keep for repeats\. Send it with a new correlation_id to run it again\.$/,
      ),
      http_response: { status_code: 409, ok: false, body: { error: expect.any(String) } },
    });
    expect(idempotency.bytes).toBeLessThan(2_000);
  });
});

describe('what the router logs', () => {
  function captured() {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    return { log: pino({ level: 'debug' }, stream), lines };
  }
  const answered = (lines: Array<Record<string, unknown>>) => lines.filter((line) => 'duration_ms' in line);

  it('logs reads and refusals of unknown or malformed topics at debug, changes at info', async () => {
    const { log, lines } = captured();
    const router = new TopicRouter({ handlers: handlers().table, log });
    await send(router, 'get_device_status', { correlation_id: 1, device_id: 'plc1' });
    await send(router, 'run_command', { ...GET_STATUS, method: 'get' });
    await send(router, 'run_command', { ...GET_STATUS, method: 'HEAD' });
    await send(router, 'nope', { correlation_id: 2 });
    await send(router, 'get_serial_devices', 'not an object');
    await send(router, 'delete_device', { correlation_id: 3, device_id: 'plc1' });
    await send(router, 'run_command', { ...GET_STATUS, method: 'POST' });
    await send(router, 'create_new_runtime', { correlation_id: 4 });
    expect(answered(lines).map((line) => [line.topic, line.level])).toEqual([
      ['get_device_status', 20],
      ['run_command', 20],
      ['run_command', 20],
      ['nope', 20],
      ['get_serial_devices', 20],
      ['delete_device', 30],
      ['run_command', 30],
      ['create_new_runtime', 30],
    ]);
  });

  it('cuts echoed input in its lines: a 1 MiB device id or topic makes a short line', async () => {
    const { log, lines } = captured();
    const long = 'p'.repeat(1 << 20);
    const { table } = handlers((_topic, request) => ({
      status: 'error',
      error: `${(request as { device_id: string }).device_id} does not exist; create it first`,
    }));
    const router = new TopicRouter({ handlers: table, log });
    await send(router, 'delete_device', { correlation_id: 5, device_id: long });
    await send(router, long, { correlation_id: 6 });
    expect(answered(lines)).toHaveLength(2);
    for (const line of lines) expect(JSON.stringify(line).length).toBeLessThan(2_000);
  });
});

import pino from 'pino';
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

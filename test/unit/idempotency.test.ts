import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  DEFAULT_IDEMPOTENCY_TTL_MS,
  IdempotencyCache,
  idempotencyKey,
  type Outcome,
} from '../../src/io/cloud/idempotency.js';
import { type TopicContext, type TopicHandlers, TopicRouter } from '../../src/io/cloud/router.js';
import { allTopics, type TopicName } from '../../src/io/cloud/topics/index.js';

const silent = pino({ level: 'silent' });

/** Handlers that count their runs and answer with the run number, so a replayed reply is recognisable. */
function countingHandlers(delay?: Promise<void>) {
  const runs: Record<string, number> = {};
  const handlers = Object.fromEntries(
    allTopics.map((topic) => [
      topic.name,
      async (_request: unknown, _ctx: TopicContext) => {
        runs[topic.name] = (runs[topic.name] ?? 0) + 1;
        const run = runs[topic.name];
        if (delay) await delay;
        return { status: 'success', run };
      },
    ]),
  ) as unknown as TopicHandlers;
  return { handlers, runs };
}

function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

async function ask(router: TopicRouter, topic: TopicName, payload: unknown) {
  let reply: unknown;
  let acks = 0;
  await router.dispatch(
    topic,
    [
      payload,
      (value: unknown) => {
        acks++;
        reply = value;
      },
    ],
    () => {},
  );
  expect(acks).toBe(1);
  return reply as Record<string, unknown>;
}

const CREATE = {
  correlation_id: 42,
  container_name: 'plc1',
  vnic_configs: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' }],
};

describe('canonicalJson', () => {
  it('ignores object key order at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [2, { y: 2, z: 1 }] }, b: 1 }),
    );
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
    expect(canonicalJson('x')).toBe('"x"');
  });

  it('gives different keys to different topics, ids and payloads', () => {
    const key = idempotencyKey('delete_device', 1, { correlation_id: 1, device_id: 'a' });
    expect(idempotencyKey('delete_device', 1, { device_id: 'a', correlation_id: 1 })).toBe(key);
    expect(idempotencyKey('stop_device', 1, { correlation_id: 1, device_id: 'a' })).not.toBe(key);
    expect(idempotencyKey('delete_device', 2, { correlation_id: 1, device_id: 'a' })).not.toBe(key);
    expect(idempotencyKey('delete_device', 1, { correlation_id: 1, device_id: 'b' })).not.toBe(key);
    expect(idempotencyKey('delete_device', '1', { correlation_id: 1, device_id: 'a' })).not.toBe(key);
  });
});

describe('IdempotencyCache', () => {
  const ok = (reply: Record<string, unknown>): (() => Promise<Outcome>) => {
    return async () => ({ reply, cacheable: true });
  };

  it('answers a repeat within the TTL with the first reply, and afresh once it has expired', async () => {
    const clock = fakeClock();
    const cache = new IdempotencyCache({ now: clock.now });
    expect(await cache.run('t', 1, { a: 1 }, ok({ n: 1 }))).toEqual({ reply: { n: 1 }, replayed: false });
    clock.advance(DEFAULT_IDEMPOTENCY_TTL_MS - 1);
    expect(await cache.run('t', 1, { a: 1 }, ok({ n: 2 }))).toEqual({ reply: { n: 1 }, replayed: true });
    clock.advance(1);
    expect(await cache.run('t', 1, { a: 1 }, ok({ n: 3 }))).toEqual({ reply: { n: 3 }, replayed: false });
    expect(await cache.run('t', 1, { a: 1 }, ok({ n: 4 }))).toEqual({ reply: { n: 3 }, replayed: true });
  });

  it('lets concurrent repeats join the operation in flight', async () => {
    const cache = new IdempotencyCache();
    let release: () => void = () => {};
    let runs = 0;
    const slow = () =>
      new Promise<Outcome>((resolve) => {
        runs++;
        release = () => resolve({ reply: { n: runs }, cacheable: true });
      });
    const first = cache.run('t', 1, { a: 1 }, slow);
    const second = cache.run('t', 1, { a: 1 }, slow);
    release();
    expect(await first).toEqual({ reply: { n: 1 }, replayed: false });
    expect(await second).toEqual({ reply: { n: 1 }, replayed: true });
    expect(runs).toBe(1);
  });

  it('does not keep outcomes marked not cacheable', async () => {
    const cache = new IdempotencyCache();
    await cache.run('t', 1, {}, async () => ({ reply: { status: 'error' }, cacheable: false }));
    expect(cache.size).toBe(0);
    expect(await cache.run('t', 1, {}, ok({ n: 2 }))).toEqual({ reply: { n: 2 }, replayed: false });
  });

  it('never expires an operation still in flight', async () => {
    const clock = fakeClock();
    const cache = new IdempotencyCache({ now: clock.now, ttlMs: 100 });
    let release: () => void = () => {};
    const first = cache.run(
      't',
      1,
      {},
      () => new Promise((resolve) => (release = () => resolve({ reply: { n: 1 }, cacheable: true }))),
    );
    clock.advance(1_000);
    const second = cache.run('t', 1, {}, ok({ n: 2 }));
    release();
    expect((await second).reply).toEqual({ n: 1 });
    await first;
  });

  it('stays bounded: the oldest requests are forgotten first and expired ones pruned', async () => {
    const clock = fakeClock();
    const cache = new IdempotencyCache({ now: clock.now, maxEntries: 3, ttlMs: 1_000 });
    for (const id of [1, 2, 3, 4]) await cache.run('t', id, {}, ok({ id }));
    expect(cache.size).toBe(3);
    expect((await cache.run('t', 1, {}, ok({ id: 'again' }))).replayed).toBe(false);
    expect((await cache.run('t', 4, {}, ok({ id: 'again' }))).replayed).toBe(true);
    clock.advance(1_000);
    await cache.run('t', 5, {}, ok({ id: 5 }));
    expect(cache.size).toBe(1);
  });
});

describe('idempotent commands through the router', () => {
  it('answers the same create_new_runtime twice with the first reply and runs it once', async () => {
    const { handlers, runs } = countingHandlers();
    const router = new TopicRouter({ handlers, log: silent, idempotency: new IdempotencyCache() });
    const first = await ask(router, 'create_new_runtime', CREATE);
    const reordered = { vnic_configs: CREATE.vnic_configs, container_name: 'plc1', correlation_id: 42 };
    const second = await ask(router, 'create_new_runtime', reordered);
    expect(first).toEqual({ action: 'create_new_runtime', correlation_id: 42, status: 'success', run: 1 });
    expect(second).toEqual(first);
    expect(runs.create_new_runtime).toBe(1);
  });

  it('runs a mutating command once when the repeat arrives while the first is in flight', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { handlers, runs } = countingHandlers(gate);
    const router = new TopicRouter({ handlers, log: silent, idempotency: new IdempotencyCache() });
    const payload = { correlation_id: 7, device_id: 'plc1' };
    const replies = Promise.all([ask(router, 'delete_device', payload), ask(router, 'delete_device', { ...payload })]);
    release();
    const [a, b] = await replies;
    expect(a).toEqual(b);
    expect(runs.delete_device).toBe(1);
  });

  it('treats a different payload under the same correlation_id as a new request', async () => {
    const { handlers, runs } = countingHandlers();
    const router = new TopicRouter({ handlers, log: silent, idempotency: new IdempotencyCache() });
    await ask(router, 'stop_device', { correlation_id: 8, device_id: 'plc1' });
    const other = await ask(router, 'stop_device', { correlation_id: 8, device_id: 'plc2' });
    expect(other.run).toBe(2);
    expect(runs.stop_device).toBe(2);
  });

  it('answers read-only topics afresh every time', async () => {
    const { handlers, runs } = countingHandlers();
    const router = new TopicRouter({ handlers, log: silent, idempotency: new IdempotencyCache() });
    for (const topic of allTopics.filter((t) => t.mutating === false)) {
      const payload = {
        correlation_id: 5,
        device_id: 'plc1',
        cpuPeriod: '1h',
        memoryPeriod: '1h',
      };
      expect((await ask(router, topic.name, payload)).run).toBe(1);
      expect((await ask(router, topic.name, payload)).run).toBe(2);
      expect(runs[topic.name]).toBe(2);
    }
  });

  it('never caches a run_command GET but caches a POST', async () => {
    const { handlers, runs } = countingHandlers();
    const router = new TopicRouter({ handlers, log: silent, idempotency: new IdempotencyCache() });
    const get = { correlation_id: 1, device_id: 'plc1', method: 'GET', api: '/api/status' };
    await ask(router, 'run_command', get);
    expect((await ask(router, 'run_command', get)).run).toBe(2);
    const post = { ...get, correlation_id: 2, method: 'POST', api: '/api/start-plc' };
    expect((await ask(router, 'run_command', post)).run).toBe(3);
    expect((await ask(router, 'run_command', post)).run).toBe(3);
    expect(runs.run_command).toBe(3);
  });

  it('counts GET and HEAD in any case as reads, and any other method in any case as a change', async () => {
    const { handlers, runs } = countingHandlers();
    const router = new TopicRouter({ handlers, log: silent, idempotency: new IdempotencyCache() });
    for (const [id, method] of [' get', 'Get', 'HEAD', 'head'].entries()) {
      const read = { correlation_id: 100 + id, device_id: 'plc1', method, api: '/api/status' };
      const before = runs.run_command ?? 0;
      await ask(router, 'run_command', read);
      await ask(router, 'run_command', read);
      expect(runs.run_command, method).toBe(before + 2);
    }
    for (const [id, method] of ['post', 'Delete', 'patch'].entries()) {
      const change = { correlation_id: 200 + id, device_id: 'plc1', method, api: '/api/start-plc' };
      const before = runs.run_command ?? 0;
      await ask(router, 'run_command', change);
      await ask(router, 'run_command', change);
      expect(runs.run_command, method).toBe(before + 1);
    }
  });

  it('runs again after the TTL has passed (fake clock)', async () => {
    const clock = fakeClock();
    const { handlers, runs } = countingHandlers();
    const idempotency = new IdempotencyCache({ now: clock.now, ttlMs: 60_000 });
    const router = new TopicRouter({ handlers, log: silent, idempotency });
    const payload = { correlation_id: 9, device_id: 'plc1' };
    await ask(router, 'restart_device', payload);
    clock.advance(59_999);
    expect((await ask(router, 'restart_device', payload)).run).toBe(1);
    clock.advance(1);
    expect((await ask(router, 'restart_device', payload)).run).toBe(2);
    expect(runs.restart_device).toBe(2);
  });

  it('never caches requests without a correlation_id', async () => {
    const { handlers, runs } = countingHandlers();
    const router = new TopicRouter({ handlers, log: silent, idempotency: new IdempotencyCache() });
    await ask(router, 'delete_orchestrator', {});
    await ask(router, 'delete_orchestrator', {});
    await ask(router, 'delete_orchestrator', { correlation_id: null });
    await ask(router, 'delete_orchestrator', { correlation_id: null });
    expect(runs.delete_orchestrator).toBe(4);
  });

  it('runs again after a handler crash or a timeout instead of replaying the failure', async () => {
    let attempt = 0;
    const { handlers } = countingHandlers();
    handlers.start_device = async () => {
      attempt++;
      if (attempt === 1) throw new Error('engine not reachable');
      if (attempt === 2) return new Promise(() => {});
      return { status: 'accepted', device_id: 'plc1', message: 'Starting plc1' };
    };
    const router = new TopicRouter({ handlers, log: silent, timeoutMs: 10, idempotency: new IdempotencyCache() });
    const payload = { correlation_id: 3, device_id: 'plc1' };
    expect((await ask(router, 'start_device', payload)).error).toBe('start_device failed: engine not reachable');
    expect((await ask(router, 'start_device', payload)).error).toMatch(/did not finish within/);
    expect((await ask(router, 'start_device', payload)).status).toBe('accepted');
    expect((await ask(router, 'start_device', payload)).status).toBe('accepted');
    expect(attempt).toBe(3);
  });

  it('does not cache validation errors and keeps caching handler refusals', async () => {
    const { handlers, runs } = countingHandlers();
    handlers.delete_device = async (request) => {
      runs.delete_device = (runs.delete_device ?? 0) + 1;
      return { status: 'error', error: `Container ${request.device_id} already has a delete operation in progress` };
    };
    const idempotency = new IdempotencyCache();
    const router = new TopicRouter({ handlers, log: silent, idempotency });
    await ask(router, 'delete_device', { correlation_id: 'x', device_id: 'plc1' });
    expect(idempotency.size).toBe(0);
    const refusal = await ask(router, 'delete_device', { correlation_id: 4, device_id: 'plc1' });
    expect(await ask(router, 'delete_device', { correlation_id: 4, device_id: 'plc1' })).toEqual(refusal);
    expect(runs.delete_device).toBe(1);
  });
});

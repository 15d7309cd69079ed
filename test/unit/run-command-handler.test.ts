import { createServer } from 'node:net';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RUN_COMMAND_MAX_CONCURRENT,
  DEFAULT_RUN_COMMAND_MAX_PER_VPLC,
  RunCommandGate,
  runCommand,
} from '../../src/actors/cloud/topics/runCommand.js';
import { createNewRuntime } from '../../src/actors/cloud/topics/deviceLifecycle.js';
import type { Supervisor, VplcStatus } from '../../src/actors/vplc/supervisor.js';
import { IdempotencyCache } from '../../src/io/cloud/idempotency.js';
import { type TopicHandlers, TopicRouter } from '../../src/io/cloud/router.js';
import { allTopics, type RunCommandRequest } from '../../src/io/cloud/topics/index.js';
import type { HttpResponseView } from '../../src/io/runtime-http/response.js';
import { RuntimeHttpProxy } from '../../src/io/runtime-http/proxy.js';

const silent = pino({ level: 'silent' });

const running = (name: string) => ({ name, state: 'running', phase: 'running' }) as VplcStatus;

/** A proxy whose requests wait until released, answering 200; counts what it was asked. */
function heldProxy() {
  const waiting: Array<() => void> = [];
  const proxy = {
    timeoutMs: 30_000,
    request: () =>
      new Promise<HttpResponseView>((resolve) => {
        waiting.push(() =>
          resolve({
            status_code: 200,
            headers: {},
            body: { status: 'RUNNING' },
            ok: true,
            content_type: 'application/json',
          }),
        );
      }),
  } as unknown as RuntimeHttpProxy;
  const releaseAll = () => {
    for (const release of waiting.splice(0)) release();
  };
  return { proxy, waiting, releaseAll };
}

/** A router whose run_command is the real handler; every vPLC named `plc*` exists and runs at 172.30.0.2. */
function routerWith(proxy: RuntimeHttpProxy, gate: RunCommandGate, allowedPorts = [8443]) {
  const handlers = Object.fromEntries(
    allTopics.map((topic) => [topic.name, async () => ({ status: 'success' })]),
  ) as unknown as TopicHandlers;
  let address: string | null = '172.30.0.2';
  handlers.run_command = (req, ctx) =>
    runCommand(
      req,
      req.device_id.startsWith('plc') ? running(req.device_id) : undefined,
      () => address,
      { proxy, allowedPorts, gate },
      ctx,
    );
  const router = new TopicRouter({ handlers, log: silent, idempotency: new IdempotencyCache() });
  const ask = async (payload: Partial<RunCommandRequest>) => {
    const acks: unknown[] = [];
    await router.dispatch(
      'run_command',
      [{ method: 'GET', api: '/api/status', ...payload }, (r: unknown) => acks.push(r)],
      () => {},
    );
    expect(acks).toHaveLength(1);
    return acks[0] as Record<string, unknown>;
  };
  return { ask, setAddress: (ip: string | null) => (address = ip) };
}

const gate = () =>
  new RunCommandGate({ perVplc: DEFAULT_RUN_COMMAND_MAX_PER_VPLC, total: DEFAULT_RUN_COMMAND_MAX_CONCURRENT });

describe('run_command replies for a vPLC that exists', () => {
  it("refuses a bad field in the old agent's shape: http_response with status_code, body.error and ok false", async () => {
    const { ask } = routerWith(heldProxy().proxy, gate());
    const error = 'Unsupported HTTP method: TRACE (use one of GET, POST, PUT, DELETE, PATCH, HEAD).';
    expect(await ask({ correlation_id: 1, device_id: 'plc1', method: 'TRACE' })).toEqual({
      action: 'run_command',
      correlation_id: 1,
      status: 'error',
      error,
      http_response: { status_code: 400, headers: {}, body: { error }, ok: false, content_type: 'application/json' },
    });
  });

  it('answers a vPLC that is not one of this agent without http_response', async () => {
    const { ask } = routerWith(heldProxy().proxy, gate());
    expect(await ask({ correlation_id: 2, device_id: 'ghost' })).toEqual({
      action: 'run_command',
      correlation_id: 2,
      status: 'error',
      error: 'Device not found: ghost',
    });
  });

  it('answers a runtime without an address with 503, and runs a repeat again once it has one', async () => {
    const held = heldProxy();
    const { ask, setAddress } = routerWith(held.proxy, gate());
    setAddress(null);
    const post = { correlation_id: 3, device_id: 'plc1', method: 'POST', api: '/api/start-plc' };
    expect(await ask(post)).toMatchObject({
      status: 'error',
      error: 'plc1 has no internal network address yet (state: running); retry once it is running',
      http_response: { status_code: 503, ok: false, body: { error: expect.stringContaining('retry') } },
    });
    setAddress('172.30.0.2');
    const repeat = ask(post);
    await new Promise((resolve) => setImmediate(resolve));
    held.releaseAll();
    expect(await repeat).toMatchObject({ status: 'success', http_response: { status_code: 200 } });
  });

  it('puts the sentence of a proxy failure at the top as well', async () => {
    const port = await freePort();
    const proxy = new RuntimeHttpProxy({ allowedPorts: [port], timeoutMs: 5_000, log: silent });
    const { ask, setAddress } = routerWith(proxy, gate(), [port]);
    setAddress('127.0.0.1');
    const reply = await ask({ correlation_id: 4, device_id: 'plc1', port });
    expect(reply).toMatchObject({ status: 'error', http_response: { status_code: 502, ok: false } });
    expect(reply.error).toMatch(/^Could not reach GET \/api\/status on the runtime at 127\.0\.0\.1:\d+ \(/);
    expect(reply.error).toBe((reply.http_response as { body: { error: string } }).body.error);
  });
});

describe('run_command requests in flight', () => {
  it('refuses a fifth request to one vPLC with 429 and the correlation_id, and takes it once one is answered', async () => {
    const held = heldProxy();
    const { ask } = routerWith(held.proxy, gate());
    const first = [1, 2, 3, 4].map((id) => ask({ correlation_id: id, device_id: 'plc1' }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(held.waiting).toHaveLength(4);
    const refused = await ask({ correlation_id: 5, device_id: 'plc1', method: 'POST', api: '/api/start-plc' });
    expect(refused).toMatchObject({
      action: 'run_command',
      correlation_id: 5,
      status: 'error',
      error:
        'run_command refused: plc1 already has 4 requests to its runtime in flight, the most the agent forwards to one vPLC at a time (--run-command-max-per-vplc); send it again once one has been answered',
      http_response: { status_code: 429, ok: false, body: { error: expect.stringContaining('plc1 already has 4') } },
    });
    // Another vPLC is not held up by this one.
    const other = ask({ correlation_id: 6, device_id: 'plc2' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(held.waiting).toHaveLength(5);
    held.releaseAll();
    await Promise.all([...first, other]);
    // The refusal was not remembered: the same command runs now.
    const again = ask({ correlation_id: 5, device_id: 'plc1', method: 'POST', api: '/api/start-plc' });
    await new Promise((resolve) => setImmediate(resolve));
    held.releaseAll();
    expect(await again).toMatchObject({ status: 'success', correlation_id: 5 });
  });

  it('refuses the seventeenth request across vPLCs', async () => {
    const held = heldProxy();
    const { ask } = routerWith(held.proxy, gate());
    const pending = Array.from({ length: 16 }, (_, i) => ask({ correlation_id: i, device_id: `plc${i}` }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(await ask({ correlation_id: 99, device_id: 'plc99' })).toMatchObject({
      correlation_id: 99,
      status: 'error',
      error:
        'run_command refused: the agent already forwards 16 run_command requests, its limit for all vPLCs together (--run-command-max-concurrent); send it again in a moment',
      http_response: { status_code: 429 },
    });
    held.releaseAll();
    await Promise.all(pending);
  });

  it('frees a place when a request fails or is refused by the proxy', async () => {
    const limits = new RunCommandGate({ perVplc: 1, total: 1 });
    const port = await freePort();
    const proxy = new RuntimeHttpProxy({ allowedPorts: [port], timeoutMs: 5_000, log: silent });
    const { ask, setAddress } = routerWith(proxy, limits, [port]);
    setAddress('127.0.0.1');
    for (let id = 1; id <= 3; id++) {
      expect((await ask({ correlation_id: id, device_id: 'plc1', port })).http_response).toMatchObject({
        status_code: 502,
      });
    }
    expect(limits.inFlight()).toBe(0);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('create_new_runtime names', () => {
  it('refuses a name longer than 128 characters before the supervisor sees it, quoting only its start', () => {
    const supervisor = {
      create: () => {
        throw new Error('must not be called');
      },
    } as unknown as Supervisor;
    const vnic = { name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' };
    const reply = createNewRuntime(supervisor, { container_name: 'p'.repeat(1 << 20), vnic_configs: [vnic] });
    expect(reply).toEqual({
      status: 'error',
      error: `Container name '${'p'.repeat(40)}… (1048536 more characters)' is longer than 128 characters; choose a shorter name`,
    });
  });
});

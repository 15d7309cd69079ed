import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import pino from 'pino';
import { Encoder, PacketType } from 'socket.io-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InterfaceInfo, SerialDevice } from '../../sidecar/src/protocol.js';
import { createTopicHandlers, type TopicDeps } from '../../src/actors/cloud/topics/index.js';
import { LeaseBook } from '../../src/actors/network/leases.js';
import { Supervisor } from '../../src/actors/vplc/supervisor.js';
import { IdempotencyCache } from '../../src/io/cloud/idempotency.js';
import { TopicRouter } from '../../src/io/cloud/router.js';
import { UsageBuffer } from '../../src/io/metrics/usageBuffer.js';
import { RuntimeHttpProxy } from '../../src/io/runtime-http/proxy.js';
import type { ObservedContainer } from '../../src/model/facts.js';
import { FakeOps, flush } from '../model/support/fakeOps.js';
import { fuzzedRequest, TOPICS } from '../support/fuzzRequests.js';
import { remoteDebugFor } from '../support/remoteDebug.js';

/**
 * Whatever the cloud sends, through the real router and the real topic handlers (a real supervisor over fake Docker
 * operations, a real HTTP proxy to a local runtime): every request gets exactly one ack that Socket.IO can encode,
 * nothing throws, no promise is left rejected, and memory stays bounded.
 */

// FUZZ_RUNS and FUZZ_SEED let a person run it longer or replay a failure; the default run stays under a minute.
const RUNS = Number(process.env.FUZZ_RUNS ?? 2_500);
const MAX_HEAP_GROWTH_MIB = 64;
const PLC = 'fuzz-plc';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function observed(name: string): ObservedContainer {
  return {
    name,
    id: `id-${name}`,
    labels: {},
    managed: true,
    role: 'vplc',
    image: 'standin',
    status: 'running',
    running: true,
    exitCode: null,
    oomKilled: false,
    startedAt: '2026-01-20T10:00:00.000Z',
    finishedAt: null,
    restartCount: 0,
    health: null,
    pid: 42,
    networks: { [`${name}_internal`]: { ip: '127.0.0.1', mac: '02:00:00:00:00:01', gateway: null } },
    internalIp: '127.0.0.1',
    networkMode: `${name}_internal`,
    configuredMac: null,
    memoryLimitBytes: 0,
    nanoCpus: 0,
    cpuQuota: 0,
    cpuPeriod: 0,
    observedAt: '2026-01-20T10:00:01.000Z',
  } as unknown as ObservedContainer;
}

const INTERFACES: InterfaceInfo[] = [
  {
    interface: 'eth0',
    index: 2,
    operstate: 'UP',
    ipv4_addresses: [{ address: '10.0.0.5', prefixlen: 24, subnet: '10.0.0.0/24', network_address: '10.0.0.0' }],
    gateway: '10.0.0.1',
    timestamp: '2026-01-20T10:00:00',
    status: 'up',
    mac_address: '00:11:22:33:44:55',
  } as unknown as InterfaceInfo,
];
const SERIALS: SerialDevice[] = [
  {
    path: '/dev/ttyUSB0',
    by_id: '/dev/serial/by-id/usb-x',
    major: 188,
    minor: 0,
    vendor_id: '0403',
    product_id: '6001',
    serial: 'A1',
    subsystem: 'tty',
    manufacturer: 'FTDI',
    product: 'FT232R',
  },
];

describe('the router under fuzzed cloud messages', () => {
  let runtime: Server;
  let port = 0;
  const logLines: Array<{ level: number; msg: string }> = [];
  let router: TopicRouter;

  beforeAll(async () => {
    // The vPLC's runtime: answers every request at once with a small JSON body.
    runtime = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url }));
      });
    });
    await new Promise<void>((resolve) => runtime.listen(0, '127.0.0.1', resolve));
    port = (runtime.address() as { port: number }).port;

    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _encoding, done) {
          const line = JSON.parse(String(chunk)) as { level: number; msg: string };
          if (line.level >= 40) logLines.push(line);
          done();
        },
      }),
    );
    const fake = new FakeOps();
    const supervisor = new Supervisor({
      ops: fake.ops,
      log: pino({ level: 'silent' }),
      restartBudget: { max: 5, windowMs: 600_000 },
    });
    supervisor.reconciled();
    supervisor.create({
      name: PLC,
      vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' }],
      serials: [],
    } as never);
    const outputs: Record<string, unknown> = {
      createContainer: { containerId: `id-${PLC}` },
      startContainer: { containerId: `id-${PLC}`, startedAt: '2026-01-20T10:00:00.000Z' },
    };
    for (let i = 0; i < 20 && fake.pending(PLC).length > 0; i++) {
      const [call] = fake.pending(PLC);
      call!.resolve(outputs[call!.op]);
      await flush();
    }
    expect(supervisor.status(PLC)?.phase).toBe('running');

    const deps: TopicDeps = {
      supervisor,
      watch: {
        observed: (name: string) => (name === PLC ? observed(name) : undefined),
        usage: (name: string) => (name === PLC ? new UsageBuffer() : undefined),
        engineAvailable: () => true,
      } as unknown as TopicDeps['watch'],
      // Not connected: creates look their made-up parents up at once, without waiting for a discovery.
      sidecar: {
        interfaceList: () => INTERFACES,
        serialDevices: () => SERIALS,
        online: () => false,
        state: () => 'backingOff',
      } as unknown as TopicDeps['sidecar'],
      proxy: new RuntimeHttpProxy({ allowedPorts: [port], timeoutMs: 2_000, log: pino({ level: 'silent' }) }),
      hostMetrics: {
        staticInfo: () => ({ memoryMb: 7821, cpuCount: 4, os: 'Linux 6.1', kernel: '6.1', diskGb: 117 }),
      } as unknown as TopicDeps['hostMetrics'],
      orchestratorUsage: new UsageBuffer(),
      leases: new LeaseBook(),
      selfDestruct: {
        pseudoDeviceId: '__orchestrator__',
        begin: () => ({ status: 'accepted', message: 'Self-destruct initiated.', poll_device_id: '__orchestrator__' }),
        status: () => undefined,
      } as unknown as TopicDeps['selfDestruct'],
      serial: { state: () => undefined } as unknown as TopicDeps['serial'],
      runCommandPorts: [port],
      debug: remoteDebugFor({
        supervisor,
        proxy: new RuntimeHttpProxy({ allowedPorts: [port], timeoutMs: 2_000, log: pino({ level: 'silent' }) }),
        ports: [port],
        internalIp: () => '127.0.0.1',
        router: () => router,
        log: pino({ level: 'silent' }),
      }),
      log: pino({ level: 'silent' }),
    };
    router = new TopicRouter({ handlers: createTopicHandlers(deps), log, idempotency: new IdempotencyCache() });
  });

  afterAll(async () => {
    await new Promise((resolve) => runtime.close(resolve));
  });

  it(`answers ${RUNS} fuzzed requests across every topic with exactly one encodable ack each; heap grows by less than ${MAX_HEAP_GROWTH_MIB} MiB`, async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    const encoder = new Encoder();
    const topicsSeen = new Set<string>();
    let answered = 0;
    // Built before the baseline: fast-check's Unicode string generators allocate large tables of their own.
    const requests = fuzzedRequest(port, PLC);
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    try {
      await fc.assert(
        fc.asyncProperty(requests, async ({ topic, args }) => {
          const acks: unknown[][] = [];
          await router.dispatch(topic, [...args, (...reply: unknown[]) => acks.push(reply)], () => {});
          expect(acks).toHaveLength(1);
          const [reply] = acks[0]!;
          // What Socket.IO would send: must encode, and must be the envelope the cloud reads.
          expect(() => encoder.encode({ type: PacketType.ACK, id: 1, nsp: '/', data: [reply] })).not.toThrow();
          expect(reply).toMatchObject({ action: expect.any(String) });
          expect(Object.hasOwn(reply as object, 'correlation_id')).toBe(true);
          topicsSeen.add(String(topic));
          answered++;
        }),
        { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31), verbose: 1 },
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    gc();
    const growthMib = (process.memoryUsage().heapUsed - heapBefore) / (1024 * 1024);
    console.info(
      `router fuzz: ${answered} requests in ${Math.round(performance.now() - started)} ms, ${topicsSeen.size} topics; heap growth ${growthMib.toFixed(1)} MiB`,
    );
    expect(answered).toBeGreaterThanOrEqual(RUNS);
    for (const topic of TOPICS) expect(topicsSeen, topic).toContain(topic);
    expect(rejections).toEqual([]);
    // A handler that threw, or a reply the router had to replace, is a bug the fuzzer found.
    expect(logLines.filter((line) => line.level >= 50)).toEqual([]);
    expect(growthMib).toBeLessThan(MAX_HEAP_GROWTH_MIB);
  }, 120_000);
});

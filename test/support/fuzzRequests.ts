import fc from 'fast-check';
import { allTopics } from '../../src/io/cloud/topics/index.js';

/**
 * Generators of hostile cloud requests, shared by the router's property test and the end-to-end sample through a
 * real cloud: random JSON, wrong types, huge and odd Unicode strings, deep nesting, prototype-named keys and values,
 * numbers at the edges, unknown and numeric topic names.
 */

export const TOPICS = allTopics.map((topic) => topic.name);
const PROTO_WORDS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
];

/** Numbers JSON can carry, at the edges. */
const edgeNumber = fc.constantFrom(
  0,
  -0,
  1,
  -1,
  0.5,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  2 ** 53 + 2,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  1e21,
  65535,
  65536,
  8443,
  4294967296,
);

const oddString = (maxString: number) =>
  fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(
      ...PROTO_WORDS,
      '',
      ' ',
      '\u0000',
      '\r\n',
      '../..',
      '%2e%2e',
      '/api/status?x=1#f',
      'GET',
      'get',
      'POST',
    ),
    fc.constantFrom('\ud800', '\udfff', '😀', '\u202e', 'ﬀ', 'İ', '\u0085'),
    fc.integer({ min: 1_000, max: maxString }).map((n) => 'x'.repeat(n)),
  );

/** Any JSON value, with prototype words among keys and values. */
const anyJson = (maxString: number) =>
  fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      edgeNumber,
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      oddString(maxString),
      fc.array(tie('value'), { maxLength: 6 }),
      fc.dictionary(fc.oneof(fc.constantFrom(...PROTO_WORDS), fc.string({ maxLength: 12 })), tie('value'), {
        maxKeys: 6,
      }),
    ),
  })).value;

/** A value nested `levels` deep, built as text and parsed like Socket.IO does (no recursion either way). */
const deep = (maxDepth: number) =>
  fc
    .tuple(fc.integer({ min: 30, max: maxDepth }), fc.boolean())
    .map(([levels, arrays]) =>
      JSON.parse(
        arrays ? `${'['.repeat(levels)}1${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`,
      ),
    );

export interface FuzzLimits {
  /** Longest generated string. */
  maxString: number;
  /** Deepest generated nesting. */
  maxDepth: number;
}

/** A valid request per topic, that the fuzzer then breaks field by field; run_command goes to `plc` on `port`. */
export function template(topic: string, port: number, plc: string): Record<string, unknown> {
  const base = { correlation_id: 1, requested_at: '2026-01-20T10:00:00Z' };
  switch (topic) {
    case 'create_new_runtime':
      return {
        ...base,
        container_name: 'fuzz-new',
        vnic_configs: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp', dns: ['10.0.0.1'] }],
        serial_configs: [{ name: 'rtu', device_id: 'usb-x', container_path: '/dev/ttyS9' }],
      };
    case 'run_command':
      return {
        ...base,
        device_id: plc,
        method: 'POST',
        api: '/api/echo?a=1',
        port,
        headers: { 'X-A': '1' },
        data: { a: 1 },
        params: { b: 2 },
      };
    case 'get_consumption_device':
      return { ...base, device_id: plc, cpuPeriod: '1h', memoryPeriod: '10m' };
    case 'get_consumption_orchestrator':
      return { ...base, cpuPeriod: '1h', memoryPeriod: '10m' };
    case 'get_host_interfaces':
      return { ...base, include_virtual: true, detailed: true };
    case 'delete_orchestrator':
    case 'get_serial_devices':
      return base;
    default:
      return { ...base, device_id: plc };
  }
}

/** A payload as JSON.parse delivers it: '__proto__' is then an own key, as it is when Socket.IO decodes a message. */
function asDecoded(value: unknown): unknown {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? value : JSON.parse(text);
  } catch {
    return value;
  }
}

/**
 * A fuzzed cloud request: a topic and the Socket.IO arguments before the ack. Payloads are what JSON.parse delivers,
 * as when Socket.IO decodes a message.
 */
export function fuzzedRequest(port: number, plc: string, limits: FuzzLimits = { maxString: 1 << 20, maxDepth: 6_000 }) {
  const fieldValue = fc.oneof(
    anyJson(limits.maxString),
    deep(limits.maxDepth),
    edgeNumber,
    oddString(limits.maxString),
  );
  return fc.oneof(
    // The topic's own contract, broken in a few fields (or, now and then, intact).
    {
      weight: 6,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...TOPICS),
          fc.array(
            fc.tuple(
              fc.oneof(
                fc.constantFrom(
                  'correlation_id',
                  'device_id',
                  'method',
                  'api',
                  'port',
                  'headers',
                  'data',
                  'params',
                  'files',
                  'container_name',
                  'vnic_configs',
                  'serial_configs',
                  'cpuPeriod',
                  'memoryPeriod',
                  'include_virtual',
                  'detailed',
                  'requested_at',
                  'action',
                ),
                fc.constantFrom(...PROTO_WORDS),
              ),
              fieldValue,
            ),
            { maxLength: 3 },
          ),
        )
        .map(([topic, changes]) => {
          const payload = template(topic, port, plc);
          for (const [key, value] of changes)
            Object.defineProperty(payload, key, { value, enumerable: true, writable: true, configurable: true });
          return { topic, args: [asDecoded(payload)] };
        }),
    },
    // Anything at all, to any topic, also unknown and prototype-named ones, with any number of arguments.
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.oneof(fc.constantFrom(...TOPICS), fc.constantFrom(...PROTO_WORDS, 'webrtc:offer', ''), fc.integer()),
          fc.array(fc.oneof(anyJson(limits.maxString), deep(limits.maxDepth)), { maxLength: 2 }),
        )
        .map(([topic, args]) => ({ topic, args: args.map(asDecoded) })),
    },
    // Files for run_command: valid and broken base64, big and small.
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.oneof(fc.base64String({ maxLength: 4_000 }), oddString(limits.maxString)),
          fc.oneof(fc.constant(undefined), oddString(limits.maxString)),
        )
        .map(([content_base64, filename]) => ({
          topic: 'run_command',
          args: [asDecoded({ ...template('run_command', port, plc), files: { file: { content_base64, filename } } })],
        })),
    },
  );
}

import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloudLink } from '../../src/actors/cloud/link.js';
import { CloudConnector, DEFAULT_MAX_MESSAGE_BYTES } from '../../src/io/cloud/connection.js';
import { type ClientIdentity, loadClientIdentity } from '../../src/io/cloud/identity.js';
import { type TopicHandlers, TopicRouter } from '../../src/io/cloud/router.js';
import { allTopics } from '../../src/io/cloud/topics/index.js';
import { makeTestPki, TEST_AGENT_CN, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { waitFor } from '../support/wait.js';

/**
 * The largest message the agent takes from the cloud, against the real test cloud: Socket.IO over mTLS WebSocket,
 * the agent's own CloudLink, connector and router.
 */

const MiB = 1024 * 1024;
let pki: TestPki;
let identity: ClientIdentity;

beforeAll(async () => {
  pki = await makeTestPki();
  identity = await loadClientIdentity(pki.mtlsDir, pki.caFile);
});
afterAll(async () => {
  await pki?.cleanup();
});

function captureLog() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

const links: CloudLink[] = [];
const clouds: TestCloud[] = [];
afterEach(async () => {
  for (const link of links.splice(0)) link.stop();
  for (const cloud of clouds.splice(0)) await cloud.close();
});

/** An agent-side link whose router answers every topic with the size of what it received. */
async function agentAgainst(
  cloudOptions: Parameters<typeof startTestCloud>[0]['serverOptions'],
  maxMessageBytes?: number,
) {
  const cloud = await startTestCloud({ pki, serverOptions: { maxHttpBufferSize: 64 * MiB, ...cloudOptions } });
  clouds.push(cloud);
  const { log, lines } = captureLog();
  const handlers = Object.fromEntries(
    allTopics.map((topic) => [
      topic.name,
      async (request: unknown) => ({ status: 'success', received_bytes: JSON.stringify(request).length }),
    ]),
  ) as unknown as TopicHandlers;
  const router = new TopicRouter({ handlers, log });
  const link = new CloudLink({
    connector: new CloudConnector({ url: cloud.url, identity, log, connectTimeoutMs: 5_000, maxMessageBytes }),
    dispatch: (topic, args, emit) => void router.dispatch(topic, args, emit),
    heartbeat: async () => ({}),
    heartbeatIntervalMs: 60_000,
    log,
    random: () => 0.5,
    baseDelayMs: 200,
  });
  links.push(link);
  link.start();
  expect(await cloud.waitForConnection(10_000)).toBe(TEST_AGENT_CN);
  return { cloud, lines };
}

const upload = (base64Bytes: number) => ({
  correlation_id: 1,
  device_id: 'plc1',
  method: 'POST',
  api: '/api/upload-file',
  files: { file: { filename: 'program.zip', content_base64: 'A'.repeat(base64Bytes) } },
});

describe('the largest message from the cloud', () => {
  it('takes a 32 MiB base64 program upload at the default limit', async () => {
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBe(36 * MiB);
    const { cloud } = await agentAgainst({});
    const reply = (await cloud.request('run_command', upload(32 * MiB), 30_000)) as Record<string, unknown>;
    expect(reply).toMatchObject({ status: 'success', correlation_id: 1 });
    expect(reply.received_bytes).toBeGreaterThan(32 * MiB);
  }, 60_000);

  it('drops a 37 MiB message at the default limit, logs why, reconnects and answers the next request', async () => {
    const { cloud, lines } = await agentAgainst({});
    await expect(cloud.request('run_command', upload(37 * MiB), 30_000)).rejects.toThrow(/disconnected/);
    await waitFor(() => cloud.connectedCns.length >= 2, { timeoutMs: 10_000, message: 'the agent to reconnect' });
    await cloud.waitForConnection(10_000);
    expect(await cloud.request('get_serial_devices', { correlation_id: 2 })).toMatchObject({
      status: 'success',
      correlation_id: 2,
    });
    expect(lines).toContainEqual(
      expect.objectContaining({
        step: 'cloud.message_too_large',
        limit_bytes: 36 * MiB,
        msg: expect.stringContaining('larger than 36 MiB (--cloud-max-message-bytes)'),
      }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ error: 'connection lost: a message from the cloud was larger than the 36 MiB limit' }),
    );
  }, 60_000);

  it('counts decompressed bytes: a 2 MiB message that compresses to a few KiB is dropped at a 1 MiB limit', async () => {
    const { cloud } = await agentAgainst({ perMessageDeflate: { threshold: 1024 } }, MiB);
    expect(
      await cloud.request('get_serial_devices', { correlation_id: 3, padding: 'a'.repeat(MiB - 1024) }),
    ).toMatchObject({
      status: 'success',
    });
    await expect(
      cloud.request('get_serial_devices', { correlation_id: 4, padding: 'a'.repeat(2 * MiB) }),
    ).rejects.toThrow(/disconnected/);
    await waitFor(() => cloud.connectedCns.length >= 2, { timeoutMs: 10_000, message: 'the agent to reconnect' });
    await cloud.waitForConnection(10_000);
    expect(await cloud.request('get_serial_devices', { correlation_id: 5 })).toMatchObject({ status: 'success' });
  }, 60_000);
});

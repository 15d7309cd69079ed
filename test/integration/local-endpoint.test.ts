import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudConnector, type CloudSession } from '../../src/io/cloud/connection.js';
import { loadClientIdentity } from '../../src/io/cloud/identity.js';
import { type CtlConnection, connectCtl } from '../../src/io/local/ctlClient.js';
import { LOCAL_INFO_EVENT, LocalEndpoint } from '../../src/io/local/endpoint.js';
import { issueCertificate } from '../../src/io/pki/certificates.js';
import { CTL_COMMON_NAME, ensureLocalPki, type LocalPki } from '../../src/io/pki/localPki.js';
import { waitFor } from '../support/wait.js';

/**
 * The embedded endpoint against real TLS and Socket.IO: the agent side is the agent's own CloudConnector with the
 * generated identity (the production code path), the ctl side is ctl's client.
 */

const log = pino({ level: 'silent' });
const AGENT_CN = 'local-endpoint-test';
let dataDir: string;
let pki: LocalPki;
let endpoint: LocalEndpoint;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'lm-endpoint-'));
  pki = await ensureLocalPki(dataDir, { agentCommonName: AGENT_CN, log });
  endpoint = new LocalEndpoint({
    tls: { key: pki.server.keyPem, cert: pki.server.certPem, ca: pki.ca.certPem },
    agentCommonName: AGENT_CN,
    ctlCommonName: CTL_COMMON_NAME,
    log,
    info: () => ({ agent_version: '9.9.9' }),
  });
  await endpoint.start();
});
afterAll(async () => {
  await endpoint?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const ctl = () => connectCtl({ url: endpoint.url, cert: pki.ctl.certPem, key: pki.ctl.keyPem, ca: pki.ca.certPem });

async function connectAgent(): Promise<CloudSession> {
  const identity = await loadClientIdentity(pki.layout.agentMtlsDir, pki.layout.caFile);
  expect(identity.agentId).toBe(AGENT_CN);
  return new CloudConnector({ url: endpoint.url, identity, log }).connect();
}

describe('the local endpoint', () => {
  it('listens on the loopback address only', () => {
    expect(new URL(endpoint.url).hostname).toBe('127.0.0.1');
  });

  it('answers ctl with a sentence while no agent is connected', async () => {
    const client = await ctl();
    try {
      expect(await client.request('get_device_status', { correlation_id: 3, device_id: 'x' }, 5_000)).toEqual({
        status: 'error',
        error: expect.stringMatching(/^The agent is not connected to the local endpoint/),
        action: 'get_device_status',
        correlation_id: 3,
      });
      expect(await client.request(LOCAL_INFO_EVENT, {}, 5_000)).toMatchObject({
        agent_connected: false,
        agent_id: AGENT_CN,
        agent_version: '9.9.9',
      });
    } finally {
      client.close();
    }
  });

  describe('with the agent connected through its own cloud link code', () => {
    let agent: CloudSession;
    let client: CtlConnection;
    const received: Array<{ topic: string; payload: unknown }> = [];

    beforeAll(async () => {
      agent = await connectAgent();
      agent.onIncoming((topic, args) => {
        received.push({ topic, payload: args[0] });
        const ack = args.at(-1);
        if (typeof ack === 'function') ack({ action: topic, status: 'success', echoed: args[0] });
      });
      client = await ctl();
      await waitFor(() => endpoint.info().agent_connected, { message: 'the agent to be connected' });
    });
    afterAll(() => {
      client?.close();
      agent?.close();
    });

    it('relays a request to the agent and its ack back', async () => {
      const reply = await client.request('get_device_status', { correlation_id: 7, device_id: 'plc1' }, 5_000);
      expect(reply).toEqual({
        action: 'get_device_status',
        status: 'success',
        echoed: { correlation_id: 7, device_id: 'plc1' },
      });
      expect(received.at(-1)).toEqual({
        topic: 'get_device_status',
        payload: { correlation_id: 7, device_id: 'plc1' },
      });
    });

    it("passes the agent's events on to ctl", async () => {
      const events: Array<{ event: string; payload: unknown }> = [];
      const off = client.onEvent((event, payload) => events.push({ event, payload }));
      agent.emit('start_device', { action: 'start_device', correlation_id: 8, success: true });
      agent.emit('heartbeat', { agent_id: AGENT_CN, status: 'active' });
      await waitFor(() => events.length >= 2, { message: 'two relayed events' });
      off();
      expect(events).toEqual([
        { event: 'start_device', payload: { action: 'start_device', correlation_id: 8, success: true } },
        { event: 'heartbeat', payload: { agent_id: AGENT_CN, status: 'active' } },
      ]);
    });

    it('says in local:info that the agent is connected', async () => {
      expect(await client.request(LOCAL_INFO_EVENT, {}, 5_000)).toMatchObject({
        agent_connected: true,
        ctl_clients: 1,
      });
    });
  });

  it('refuses a client certificate from another CA', async () => {
    const now = Date.now();
    const rogueCa = await issueCertificate({
      commonName: 'rogue',
      role: 'ca',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
    });
    const rogue = await issueCertificate({
      commonName: CTL_COMMON_NAME,
      role: 'client',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
      issuer: rogueCa,
    });
    await expect(
      connectCtl({ url: endpoint.url, cert: rogue.certPem, key: rogue.keyPem, ca: pki.ca.certPem }),
    ).rejects.toThrow(/cannot connect to https:\/\/127\.0\.0\.1:\d+/);
  });

  it('refuses a certificate of the local CA whose name is neither the agent nor ctl', async () => {
    const now = Date.now();
    const stranger = await issueCertificate({
      commonName: 'stranger',
      role: 'client',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
      issuer: pki.ca,
    });
    await expect(
      connectCtl({ url: endpoint.url, cert: stranger.certPem, key: stranger.keyPem, ca: pki.ca.certPem }),
    ).rejects.toThrow(/cannot connect/);
  });
});

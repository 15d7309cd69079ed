import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, agentArgs, startAgentProcess } from '../support/agentProcess.js';
import { type BrowserPeer, launchBrowserPeer } from '../support/browserPeer.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Remote debugging end to end: the built agent, a vPLC on the real engine (the stand-in runtime with its debug
 * namespace), the test cloud relaying signalling, and chromium as the cloud's web UI. ICE uses host candidates only,
 * and the agent offers only 127.0.0.1.
 */
const sh = promisify(execFile);
const hasDocker = await dockerOrSkip();
const PARENT = 'i13p0';
const PEER = 'i13q0';
const PLC = 'i13-webrtc-plc';
const OTHER = 'i13-webrtc-gone';
const CREDENTIALS = { username: 'openplc', password: 'openplc' };
type Reply = Record<string, unknown>;

describe.skipIf(!hasDocker)('WebRTC remote debugging with a browser peer', () => {
  let pki: TestPki;
  let cloud: TestCloud;
  let agent: AgentProcess;
  let browser: BrowserPeer;
  const ask = (topic: string, payload: unknown, timeoutMs = 20_000) =>
    cloud.request(topic, payload, timeoutMs) as Promise<Reply>;
  let correlation = 1000;
  const next = () => ++correlation;

  const createVplc = async (name: string, ip: string) => {
    const created = await ask('create_new_runtime', {
      correlation_id: next(),
      container_name: name,
      vnic_configs: [
        {
          name: 'eth0',
          parent_interface: PARENT,
          network_mode: 'static',
          ip,
          subnet: '10.213.0.0/24',
          gateway: '10.213.0.1',
        },
      ],
    });
    expect(created).toMatchObject({ status: 'creating' });
    // run_command waits for the runtime's API: once it answers, the vPLC is running and ready.
    await waitFor(
      async () =>
        (
          await ask(
            'run_command',
            { correlation_id: next(), device_id: name, method: 'GET', api: '/api/status' },
            40_000,
          )
        ).status === 'success',
      { timeoutMs: 90_000, intervalMs: 500, message: `${name} running and ready` },
    );
  };

  /** A session opened the way the web UI opens one: the page offers, the cloud relays, the agent answers. */
  const openSession = async (id: string, device: string) => {
    const offer = await browser.offer(id);
    const reply = await ask('webrtc:offer', {
      correlation_id: next(),
      session_id: id,
      device_id: device,
      sdp: offer,
      sdp_type: 'offer',
    });
    expect(reply).toMatchObject({ action: 'webrtc:offer', status: 'success', session_id: id, sdp_type: 'answer' });
    const candidates = String(reply.sdp)
      .split('\r\n')
      .filter((l) => l.startsWith('a=candidate:'));
    expect(candidates.length).toBeGreaterThan(0);
    for (const c of candidates) expect(c.split(' ')[4]).toBe('127.0.0.1');
    await browser.answer(id, String(reply.sdp));
    await browser.waitForState(id, { connection: 'connected', data: 'open', debug: 'open' });
    // Sent on open (the old agent meant to and never did).
    await browser.waitForMessage(id, 'data', { type: 'ready' });
    await browser.waitForMessage(id, 'debug', { type: 'debug_ready' });
    return offer;
  };

  beforeAll(async () => {
    const image = await ensureStandinImage();
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    await sh('ip', ['link', 'del', PARENT]).catch(() => {});
    await sh('ip', ['link', 'add', PARENT, 'type', 'veth', 'peer', 'name', PEER]);
    await sh('ip', ['link', 'set', PARENT, 'up']);
    await sh('ip', ['link', 'set', PEER, 'up']);
    agent = await startAgentProcess(
      [
        ...agentArgs({ cloudUrl: cloud.url, pki, image, parentInterfaces: [PARENT] }),
        '--webrtc-ice-servers',
        'none',
        '--webrtc-host-addresses',
        '127.0.0.1',
        '--debug-max-sessions-per-vplc',
        '2',
        '--debug-max-sessions-per-host',
        '3',
      ],
      { ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock' },
    );
    await waitFor(() => cloud.connectionCount() === 1, { timeoutMs: 30_000, message: 'agent connection' });
    browser = await launchBrowserPeer();
    await createVplc(PLC, '10.213.0.50');
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    for (const name of [PLC, OTHER]) {
      await sh('/usr/bin/docker', ['rm', '-f', name]).catch(() => {});
      await sh('/usr/bin/docker', ['network', 'rm', `${name}_internal`]).catch(() => {});
    }
    await sh('/usr/bin/docker', ['network', 'rm', `macvlan_${PARENT}_10.213.0.0_24`]).catch(() => {});
    await sh('ip', ['link', 'del', PARENT]).catch(() => {});
    await cloud?.close();
    await pki?.cleanup();
  });

  it('opens both channels, answers ping and run_command, chunks large replies both ways, bridges debug, and closes', async () => {
    const id = 'i13-s1';
    await openSession(id, PLC);

    await browser.send(id, 'data', { type: 'ping' });
    await browser.waitForMessage(id, 'data', { type: 'pong' });

    await browser.send(id, 'data', {
      type: 'run_command',
      correlation_id: 'c-1',
      device_id: PLC,
      method: 'GET',
      api: '/api/status',
    });
    expect(await browser.waitForMessage(id, 'data', { type: 'command_response', correlation_id: 'c-1' })).toMatchObject(
      {
        status: 'success',
        http_response: { status_code: 200, body: { status: 'RUNNING' } },
      },
    );

    // 60,000 characters of reply: well above the 15,000 threshold, so it arrives as chunks the page joins.
    await browser.send(id, 'data', {
      type: 'run_command',
      correlation_id: 2,
      device_id: PLC,
      method: 'GET',
      api: '/api/big?bytes=60000',
    });
    const big = await browser.waitForMessage(id, 'data', { type: 'command_response', correlation_id: 2 });
    expect(big).toMatchObject({ status: 'success', http_response: { status_code: 200 } });
    expect((big.http_response as { body: string }).body).toBe('a'.repeat(60_000));
    expect(big._chunks).toBeGreaterThanOrEqual(5);

    // And the page chunks a 40,000-character upload: the agent joins it and proxies it.
    const text = 'x'.repeat(40_000);
    await browser.send(id, 'data', {
      type: 'run_command',
      correlation_id: 3,
      device_id: PLC,
      method: 'POST',
      api: '/api/echo',
      data: text,
      headers: { 'Content-Type': 'text/plain' },
    });
    const echoed = await browser.waitForMessage(id, 'data', { type: 'command_response', correlation_id: 3 });
    expect((echoed.http_response as { body: { body: string; body_bytes: number } }).body).toMatchObject({
      body: text,
      body_bytes: 40_000,
    });
    expect(echoed._chunks).toBeGreaterThanOrEqual(3);

    // The session is bound to its vPLC, and the proxy's own checks hold on the channel too.
    await browser.send(id, 'data', {
      type: 'run_command',
      correlation_id: 4,
      device_id: OTHER,
      method: 'GET',
      api: '/api/status',
    });
    expect(await browser.waitForMessage(id, 'data', { type: 'command_response', correlation_id: 4 })).toMatchObject({
      status: 'error',
      error: expect.stringContaining(`This WebRTC session debugs ${PLC}`),
    });
    await browser.send(id, 'data', {
      type: 'run_command',
      correlation_id: 5,
      device_id: PLC,
      method: 'GET',
      api: '/api/status',
      port: 22,
    });
    expect(await browser.waitForMessage(id, 'data', { type: 'command_response', correlation_id: 5 })).toMatchObject({
      status: 'error',
    });

    // The debug channel, bridged to the runtime's debug namespace.
    await browser.send(id, 'debug', { type: 'debug_info' });
    await browser.waitForMessage(id, 'debug', {
      type: 'debug_error',
      error: 'No active debug session. Send debug_start first.',
    });
    await browser.send(id, 'debug', { type: 'debug_start', device_id: OTHER, ...CREDENTIALS });
    await browser.send(id, 'debug', { type: 'debug_start', ...CREDENTIALS });
    await browser.waitForMessage(id, 'debug', { type: 'debug_connected' });
    const debugLog = await browser.messages(id, 'debug');
    expect(debugLog.some((m) => String(m.error).includes(`This WebRTC session debugs ${PLC}`))).toBe(true);
    await browser.send(id, 'debug', { type: 'debug_info' });
    await browser.waitForMessage(id, 'debug', { type: 'debug_info_response', variable_count: 32 });
    await browser.send(id, 'debug', { type: 'debug_set', index: 3, value: '00 00 00 07', force: true });
    await browser.waitForMessage(id, 'debug', { type: 'debug_set_response', success: true });
    await browser.send(id, 'debug', { type: 'debug_get_list', indexes: [3] });
    const values = await browser.waitForMessage(id, 'debug', { type: 'debug_values_response' });
    expect(values).toMatchObject({ data: '00000007', last_index: 3 });
    await browser.send(id, 'debug', 'not json at all');
    await browser.send(id, 'debug', { type: 'debug_dance' });
    await browser.waitForMessage(id, 'debug', { type: 'debug_error', error: 'Unknown message type: debug_dance' });
    await browser.send(id, 'debug', { type: 'debug_stop' });
    await browser.waitForMessage(id, 'debug', { type: 'debug_disconnected' });

    // Closing from the cloud ends it on both sides.
    expect(
      await ask('webrtc:disconnect', { correlation_id: next(), session_id: id, reason: 'user closed the tab' }),
    ).toEqual({
      action: 'webrtc:disconnect',
      correlation_id: correlation,
      status: 'success',
      session_id: id,
      message: 'Session closed',
    });
    await browser.waitForState(id, { data: 'closed', debug: 'closed' });
    expect(await ask('webrtc:disconnect', { correlation_id: next(), session_id: id })).toMatchObject({
      status: 'warning',
      message: 'Session not found (may already be closed)',
    });
    expect(
      await ask('webrtc:ice', {
        correlation_id: next(),
        session_id: id,
        candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host',
      }),
    ).toMatchObject({
      status: 'error',
      error: `Session ${id} not found (it was closed: closed at the request of the cloud)`,
      session_id: id,
    });
    expect(browser.requests).toEqual([]);
  }, 120_000);

  it('ends the session on both sides when its vPLC is deleted mid-session', async () => {
    await createVplc(OTHER, '10.213.0.51');
    const id = 'i13-s2';
    await openSession(id, OTHER);
    await browser.send(id, 'debug', { type: 'debug_start', ...CREDENTIALS });
    await browser.waitForMessage(id, 'debug', { type: 'debug_connected' });

    expect(await ask('delete_device', { correlation_id: next(), device_id: OTHER })).toMatchObject({
      status: 'deleting',
    });
    const goodbye = await browser.waitForMessage(id, 'data', { type: 'session_closed' }, 60_000);
    expect(goodbye).toMatchObject({
      reason: 'vplc_deleted',
      message: `The debug session of ${OTHER} ended: its vPLC was deleted`,
    });
    await browser.waitForMessage(id, 'debug', { type: 'session_closed', reason: 'vplc_deleted' });
    await browser.waitForState(id, { data: 'closed', debug: 'closed' }, 30_000);
    expect(await ask('webrtc:ice', { correlation_id: next(), session_id: id, candidate: '' })).toMatchObject({
      status: 'error',
      error: `Session ${id} not found (it was closed: its vPLC was deleted)`,
    });
    // A deleted vPLC takes no new session either.
    await waitFor(
      async () => (await ask('get_device_status', { correlation_id: next(), device_id: OTHER })).status === 'not_found',
      {
        timeoutMs: 60_000,
        message: `${OTHER} deleted`,
      },
    );
    const late = await ask('webrtc:offer', {
      correlation_id: next(),
      session_id: 'i13-s3',
      device_id: OTHER,
      sdp: 'v=0\r\n',
      sdp_type: 'offer',
    });
    expect(late).toMatchObject({ status: 'error', error: `Device ${OTHER} not found`, session_id: 'i13-s3' });
  }, 180_000);

  it('answers bad signalling with the spec replies, and refuses a flood of offers beyond the caps', async () => {
    const offer = await browser.offer('i13-flood-src');
    expect(await ask('webrtc:offer', { correlation_id: next(), session_id: 'x' })).toMatchObject({
      status: 'error',
      error: 'Missing required field: device_id',
      correlation_id: correlation,
    });
    expect(await ask('webrtc:ice', { correlation_id: next(), session_id: 'nobody' })).toEqual({
      action: 'webrtc:ice',
      correlation_id: correlation,
      status: 'error',
      error: 'Session nobody not found',
      session_id: 'nobody',
    });
    const base = { device_id: PLC, sdp_type: 'offer' };
    expect(
      await ask('webrtc:offer', { correlation_id: next(), session_id: 'bad1', ...base, sdp: 'hello, I am not SDP' }),
    ).toMatchObject({ status: 'error', error: expect.stringMatching(/^Malformed SDP/), session_id: 'bad1' });
    expect(
      await ask('webrtc:offer', {
        correlation_id: next(),
        session_id: 'bad2',
        ...base,
        sdp: 'v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=garbage\r\n',
      }),
    ).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/^The WebRTC offer could not be answered/),
      session_id: 'bad2',
    });
    expect(
      await ask('webrtc:offer', {
        correlation_id: next(),
        session_id: 'bad3',
        ...base,
        sdp: offer,
        sdp_type: 'answer',
      }),
    ).toMatchObject({ status: 'error', error: expect.stringContaining('sdp_type must be "offer"') });
    expect(
      await ask('webrtc:offer', {
        correlation_id: next(),
        session_id: 'bad4',
        ...base,
        sdp: `v=0\r\n${'a'.repeat(70_000)}`,
      }),
    ).toMatchObject({
      status: 'error',
      error: 'The offer SDP is longer than 65536 characters',
    });

    // Twelve offers at once: two sessions for the vPLC (--debug-max-sessions-per-vplc 2), the rest refused.
    const flood = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        ask('webrtc:offer', { correlation_id: next(), session_id: `flood-${i}`, ...base, sdp: offer }),
      ),
    );
    const accepted = flood.filter((r) => r.status === 'success');
    const refused = flood.filter((r) => r.status === 'error');
    expect(accepted).toHaveLength(2);
    expect(refused).toHaveLength(10);
    for (const r of refused) expect(r.error).toContain('--debug-max-sessions-per-vplc');
    // ICE for an accepted session is taken; end of candidates is acknowledged.
    const sid = String(accepted[0]!.session_id);
    expect(await ask('webrtc:ice', { correlation_id: next(), session_id: sid, candidate: null })).toMatchObject({
      status: 'success',
      message: 'End of candidates acknowledged',
    });
    expect(
      await ask('webrtc:ice', {
        correlation_id: next(),
        session_id: sid,
        candidate: 'candidate:not a candidate',
        sdp_mid: '0',
        sdp_mline_index: 0,
      }),
    ).toMatchObject({ status: 'error', session_id: sid });
    for (const r of accepted) {
      expect(await ask('webrtc:disconnect', { correlation_id: next(), session_id: r.session_id })).toMatchObject({
        status: 'success',
      });
    }
    // Freed: a new offer is answered again.
    expect(
      await ask('webrtc:offer', { correlation_id: next(), session_id: 'after-flood', ...base, sdp: offer }),
    ).toMatchObject({
      status: 'success',
    });
    await ask('webrtc:disconnect', { correlation_id: next(), session_id: 'after-flood' });
    expect(agent.output()).not.toContain('"password"');
  }, 120_000);
});

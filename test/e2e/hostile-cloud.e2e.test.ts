import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, agentArgs, startAgentProcess } from '../support/agentProcess.js';
import { makeTestPki, TEST_AGENT_CN, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { fuzzedRequest } from '../support/fuzzRequests.js';
import { type StubDocker, startStubDocker } from '../support/stubDocker.js';
import { waitFor } from '../support/wait.js';

/**
 * The built agent as a process against the real mTLS test cloud, with a hostile cloud: a sample of fuzzed requests,
 * an oversize message, and a cloud URL carrying a password. The Docker engine is a stub with nothing in it, so nothing
 * the fuzzer sends (even delete_orchestrator) can touch the engine other tests share.
 */

const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const SAMPLE = 400;
const MiB = 1024 * 1024;

let pki: TestPki;
let cloud: TestCloud;
let docker: StubDocker;
let agent: AgentProcess;

beforeAll(async () => {
  pki = await makeTestPki();
  cloud = await startTestCloud({ pki, serverOptions: { maxHttpBufferSize: 16 * MiB } });
  docker = await startStubDocker(join(tmpdir(), `hi-docker-${randomBytes(3).toString('hex')}.sock`));
  const url = new URL(cloud.url);
  url.username = 'agent';
  url.password = PASSWORD;
  agent = await startAgentProcess(
    [
      ...agentArgs({ cloudUrl: url.toString(), pki, image: 'orchestrator-test/missing:never' }),
      '--cloud-max-message-bytes',
      String(MiB),
    ],
    { DOCKER_HOST: `unix://${docker.socketPath}`, ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock' },
  );
  await waitFor(() => cloud.connectedCns.includes(TEST_AGENT_CN), {
    timeoutMs: 30_000,
    message: `agent connection; output:\n${agent?.output()}`,
  });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await cloud?.close();
  await docker?.close();
  await pki?.cleanup();
});

const alive = () => agent.child.exitCode === null && agent.child.signalCode === null;

describe('the built agent against a hostile cloud', () => {
  it(`answers a sample of ${SAMPLE} fuzzed requests, each with one ack, and keeps running`, async () => {
    // Depth and length stay within what the test cloud's own encoder and the 1 MiB message limit take.
    const sample = fc.sample(fuzzedRequest(8443, 'fuzz-plc', { maxString: 64 * 1024, maxDepth: 1_500 }), {
      numRuns: SAMPLE,
      seed: Number(process.env.FUZZ_SEED ?? 7),
    });
    let answered = 0;
    for (const { topic, args } of sample) {
      const acks = await cloud.requestArgs(topic as string, args, 10_000);
      expect(acks, String(topic)).toHaveLength(1);
      expect(acks[0]).toMatchObject({ action: expect.any(String) });
      answered++;
    }
    expect(answered).toBe(SAMPLE);
    expect(alive()).toBe(true);
    expect(cloud.connectedCns).toHaveLength(1);
    expect(agent.output()).not.toMatch(/unhandled promise rejection|uncaught exception/);
    // The read-only topics of the sample were logged at debug, so the console (info) stayed short.
    expect(agent.output().split('\n').length).toBeLessThan(SAMPLE);
  }, 120_000);

  it('survives an oversize message: the link is closed, the agent says why, reconnects and answers again', async () => {
    const connections = cloud.connectedCns.length;
    await expect(
      cloud.request('run_command', { correlation_id: 1, data: 'x'.repeat(2 * MiB) }, 10_000),
    ).rejects.toThrow(/disconnected/);
    await waitFor(() => cloud.connectedCns.length > connections, {
      timeoutMs: 15_000,
      message: 'the agent to reconnect',
    });
    await cloud.waitForConnection(10_000);
    expect(await cloud.request('get_serial_devices', { correlation_id: 2 })).toMatchObject({
      status: 'success',
      correlation_id: 2,
    });
    expect(alive()).toBe(true);
    expect(agent.output()).toContain('the cloud sent a message larger than 1 MiB (--cloud-max-message-bytes)');
  }, 60_000);

  it('never prints the password of its cloud URL: banner, start line, connection errors', async () => {
    // A cloud outage makes the agent report connection errors, which quote the URL.
    await cloud.stop();
    await waitFor(() => /cannot connect to|no answer from/.test(agent.output()), {
      timeoutMs: 20_000,
      message: 'a connection error in the output',
    });
    await cloud.restart();
    await cloud.waitForConnection(30_000);
    const output = agent.output();
    expect(output).toContain('[redacted]@127.0.0.1');
    expect(output).toMatch(
      /cannot connect to https:\/\/\[redacted\]@127\.0\.0\.1|no answer from https:\/\/\[redacted\]@/,
    );
    expect(output).not.toContain(PASSWORD);
  }, 60_000);
});

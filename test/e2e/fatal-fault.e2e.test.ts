import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentArgs, startAgentProcess } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { waitFor } from '../support/wait.js';

/**
 * A fault nothing catches must not leave a live process that answers nothing: the agent logs it as fatal, stops
 * what it can and exits with code 1, so the container's restart policy starts it again. The fault is injected with
 * a module preloaded through NODE_OPTIONS (fired by SIGUSR2 once the agent serves), the way a bug deep in a library
 * would surface.
 */
describe('the built agent on a fatal fault', () => {
  let pki: TestPki;
  let cloud: TestCloud;
  let dir: string;

  beforeAll(async () => {
    pki = await makeTestPki();
    cloud = await startTestCloud({ pki });
    dir = await mkdtemp(join(tmpdir(), 'fatal-'));
  }, 60_000);
  afterAll(async () => {
    await cloud?.close();
    await pki?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['an uncaught exception', "process.on('SIGUSR2', () => { throw new Error('injected fault'); });"],
    [
      'an unhandled promise rejection',
      "process.on('SIGUSR2', () => { Promise.reject(new Error('injected fault')); });",
    ],
  ])(
    'exits 1 after %s, once it was serving',
    async (what, code) => {
      const preload = join(dir, `fault-${what.length}.mjs`);
      await writeFile(preload, `${code}\n`);
      const agent = await startAgentProcess(
        agentArgs({ cloudUrl: cloud.url, pki, image: 'orchestrator-test/missing:never' }),
        { ORCH_NETMON_SOCKET: '/nonexistent/netmon.sock', NODE_OPTIONS: `--import=${preload}` },
      );
      try {
        await waitFor(() => cloud.connectionCount() === 1 && agent.output().includes('agent started'), {
          timeoutMs: 30_000,
          message: 'the agent serving',
        });
        agent.child.kill('SIGUSR2');
        const code = await Promise.race([
          agent.exited,
          new Promise((r) => setTimeout(() => r('still running'), 20_000)),
        ]);
        expect(code).toBe(1);
        expect(agent.output()).toContain(what);
        expect(agent.output()).toContain('injected fault');
      } finally {
        await agent.stop();
      }
    },
    60_000,
  );
});

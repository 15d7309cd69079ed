import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SidecarLink } from '../../src/actors/sidecar/link.js';
import { NetmonConnector } from '../../src/io/netmon/client.js';
import { ensureBuilt } from '../support/agentProcess.js';
import { waitFor } from '../support/wait.js';

/**
 * The sidecar killed in the middle of a command: the command is answered at once with a sentence (not after its
 * timeout), the link goes back to reconnecting, and a new sidecar on the same socket is used as soon as it listens.
 */
const root = new URL('../..', import.meta.url).pathname;
const log = pino({ level: 'silent' });

describe('the built sidecar killed mid-command', () => {
  let dir: string;
  let sidecar: ChildProcess | undefined;
  let link: SidecarLink;
  const socket = () => join(dir, 'netmon.sock');

  function startSidecar(): ChildProcess {
    const child = spawn(
      process.execPath,
      [join(root, 'dist/sidecar/src/main.js'), '--socket', socket(), '--data-dir', dir, '--sys-root', join(dir, 'sys')],
      { stdio: 'ignore' },
    );
    sidecar = child;
    return child;
  }

  beforeAll(async () => {
    await ensureBuilt();
    dir = await mkdtemp(join(tmpdir(), 'sidecar-killed-'));
    startSidecar();
    link = new SidecarLink({
      connector: new NetmonConnector({ socketPath: socket(), log }),
      log,
      baseDelayMs: 100,
      maxDelayMs: 400,
    });
    link.start();
    await waitFor(() => link.online(), { timeoutMs: 20_000, message: 'the link online' });
  }, 60_000);

  afterAll(async () => {
    link?.stop();
    sidecar?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the command in flight with a clear error at once and reconnects to the next sidecar', async () => {
    const first = sidecar!;
    // Frozen, it takes the command off the socket but never answers; then it dies.
    first.kill('SIGSTOP');
    const started = Date.now();
    const inFlight = link.request({ command: 'get_dhcp_status' }, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    first.kill('SIGKILL');
    await expect(inFlight).rejects.toThrow(/closed|network monitor/i);
    expect(Date.now() - started).toBeLessThan(5_000);
    await waitFor(() => !link.online(), { timeoutMs: 5_000, message: 'the link to notice' });

    startSidecar();
    await waitFor(() => link.online(), { timeoutMs: 20_000, message: 'the link back online' });
    const reply = await link.request({ command: 'get_dhcp_status' }, 10_000);
    expect(reply.success).toBe(true);
  }, 60_000);
});

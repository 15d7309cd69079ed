import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/agentProcess.js';
import { waitFor } from '../support/wait.js';

/**
 * The README's commands must work exactly as written on a fresh clone (after `npm ci && npm run build`, which CI
 * runs first). The commands are read from the README itself, so an edit there is tested here.
 */
const root = new URL('../..', import.meta.url).pathname;

async function readmeCommand(tag: string): Promise<string> {
  const readme = await readFile(`${root}README.md`, 'utf8');
  const line = readme.split('\n').find((l) => l.trimEnd().endsWith(`# ${tag}`));
  if (!line) throw new Error(`README.md has no command tagged '# ${tag}'`);
  return line.slice(0, line.lastIndexOf('#')).trim();
}

describe('README commands', () => {
  it('starts the built sidecar with the README command, verbatim, and it serves its socket', async () => {
    await ensureBuilt();
    const command = await readmeCommand('sidecar');
    expect(command).toMatch(/^node dist\/sidecar\/src\/main\.js /);
    const socketPath = /--socket (\S+)/.exec(command)?.[1];
    expect(socketPath).toBeDefined();
    const child = spawn('sh', ['-c', `exec ${command}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => output.includes('"step":"server.listening"') || child.exitCode !== null, {
        timeoutMs: 15_000,
        message: 'the sidecar to listen or exit',
      });
      expect(output).toContain('"step":"server.listening"');
      expect((await stat(socketPath!)).isSocket()).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

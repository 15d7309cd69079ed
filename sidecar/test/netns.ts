/** Network-namespace fixtures for the sidecar tests. Every name starts with `t7` (this suite's prefix). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export async function sh(command: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(command, args, { timeout: 10_000 });
  return stdout;
}

export const ip = (...args: string[]) => sh('ip', args);

export async function deleteNetns(...names: string[]): Promise<void> {
  for (const name of names) await ip('netns', 'del', name).catch(() => undefined);
}

export async function deleteLink(name: string, netns?: string): Promise<void> {
  const args = netns ? ['-n', netns, 'link', 'del', name] : ['link', 'del', name];
  await ip(...args).catch(() => undefined);
}

export const isRoot = process.getuid?.() === 0;

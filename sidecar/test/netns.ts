/** Network-namespace fixtures for the sidecar tests. Every name starts with `t7` (this suite's prefix). */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
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

/**
 * A process shaped like a runtime container's main process, as Docker's `State.Pid` names one: the first process of
 * a PID namespace of its own, in a network namespace of its own (`netns`, or a new empty one). The sidecar refuses
 * any other target. Resolves with the spawned wrapper (kill it to end both) and the runtime process's PID.
 */
export async function startRuntimeProcess(netns?: string): Promise<{ child: ChildProcess; pid: number }> {
  const child = netns
    ? spawn('ip', ['netns', 'exec', netns, 'unshare', '--pid', '--fork', '--kill-child', 'sleep', '600'], {
        stdio: 'ignore',
      })
    : spawn('unshare', ['--net', '--pid', '--fork', '--kill-child', 'sleep', '600'], { stdio: 'ignore' });
  const wrapper = child.pid ?? 0;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const children = await readFile(`/proc/${wrapper}/task/${wrapper}/children`, 'utf8').catch(() => '');
    const pid = Number(children.trim().split(/\s+/)[0]);
    if (pid > 0) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      if (/^NSpid:\s+\d+\s+1\s*$/m.test(status)) return { child, pid };
    }
    if (Date.now() > deadline) throw new Error(`the runtime-like process under ${wrapper} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

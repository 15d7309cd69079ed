import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
export const BUILT_ENTRY = join(root, 'dist/src/main.js');

/** Builds the agent once when no build exists (CI builds before `npm test`). */
export async function ensureBuilt(): Promise<string> {
  try {
    await access(BUILT_ENTRY);
  } catch {
    await run('npm', ['run', 'build'], { cwd: root, timeout: 180_000 });
  }
  return BUILT_ENTRY;
}

/** The flags every end-to-end test gives the agent: the test cloud, its PKI, a runtime image, no ulimits
 *  (this machine's dockerd cannot grant rtprio/memlock), and the veth ends its vPLCs use as parents (veths are no
 *  hardware ports, so the agent takes them only when --parent-interfaces lists them). */
export function agentArgs(opts: {
  cloudUrl: string;
  pki: { mtlsDir: string; caFile: string };
  image: string;
  parentInterfaces?: string[];
}): string[] {
  const parents = opts.parentInterfaces?.length ? ['--parent-interfaces', opts.parentInterfaces.join(',')] : [];
  return [
    ...parents,
    '--cloud-url',
    opts.cloudUrl,
    '--mtls-dir',
    opts.pki.mtlsDir,
    '--ca-file',
    opts.pki.caFile,
    '--runtime-ulimits',
    'none',
    '--runtime-image',
    opts.image,
  ];
}

export interface AgentProcess {
  child: ChildProcess;
  dataDir: string;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface AgentProcessOptions {
  /** Run on this data dir (e.g. the previous run's, to test a restart) and leave it in place on `stop()`. */
  dataDir?: string;
}

/** Runs the built agent as its own process, the way an installer would. */
export async function startAgentProcess(
  args: string[],
  env: Record<string, string> = {},
  opts: AgentProcessOptions = {},
): Promise<AgentProcess> {
  const entry = await ensureBuilt();
  const keepDataDir = opts.dataDir !== undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'e2e-agent-')));
  let output = '';
  const child = spawn(process.execPath, [entry, '--data-dir', dataDir, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    dataDir,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      if (!keepDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs the built agent to completion (for configuration errors). */
export async function runAgentOnce(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const entry = await ensureBuilt();
  return new Promise((resolve) => {
    execFile(process.execPath, [entry, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code =
        error && typeof (error as { code?: unknown }).code === 'number'
          ? (error as { code: number }).code
          : error
            ? null
            : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

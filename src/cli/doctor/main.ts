import { ConfigError, type Config, parseConfig } from '../../config.js';
import { splitToolArgs, UsageError } from '../toolArgs.js';
import { type CheckResult, type DoctorContext, runChecks } from './checks.js';

/**
 * `orchestrator-agent doctor`: checks the host the agent runs on, one line per check with what to do, with the
 * agent's own options (so it looks at the engine, folders and certificates the agent would use). The exit code is
 * 1 when any check failed, 0 otherwise (warnings included).
 */

export function doctorUsage(command: string): string {
  return [
    `Usage: ${command} doctor [--parent IF]... [--json] [the agent's options, e.g. --data-dir DIR]`,
    '',
    'Checks the Docker engine and its API version, the MACVLAN parent interfaces (those the vPLCs use and each',
    '--parent), the network-monitor sidecar, the certificates (present, readable, valid, CN), the cloud (or the',
    "local endpoint), this host's clock against the cloud's, disk space, the data folder, and whether the engine",
    'grants the runtime ulimits (with a throw-away container that runs nothing).',
    '',
    'Exit code: 1 when a check failed, 0 otherwise; 2 for a usage error.',
  ].join('\n');
}

const MARK: Record<CheckResult['status'], string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' };

export function formatResult(r: CheckResult): string {
  return `${MARK[r.status]}  ${r.check.padEnd(12)}  ${r.detail}${r.fix ? ` → ${r.fix}` : ''}`;
}

export async function runDoctor(
  argv: string[],
  env: Record<string, string | undefined>,
  command: string,
  out: (text: string) => void = (t) => process.stdout.write(t),
  overrides: Partial<Pick<DoctorContext, 'limits' | 'now'>> = {},
): Promise<number> {
  let config: Config;
  let parents: string[];
  let json: boolean;
  try {
    const split = splitToolArgs(
      argv,
      {
        '--json': { value: false },
        '--parent': { value: true, repeat: true },
        '--help': { value: false },
        '-h': { value: false },
      },
      'doctor',
    );
    if (split.flags.has('--help') || split.flags.has('-h')) {
      out(`${doctorUsage(command)}\n`);
      return 0;
    }
    if (split.positionals.length > 0)
      throw new UsageError(`unexpected argument "${split.positionals[0]}" (see doctor --help)`);
    parents = split.flags.get('--parent') ?? [];
    json = split.flags.has('--json');
    config = await parseConfig(split.agentArgs, env, { checkFiles: false });
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`doctor: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const results = await runChecks({
    config,
    parents,
    now: overrides.now ?? new Date(),
    command,
    limits: overrides.limits,
  });
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  if (json) {
    out(`${JSON.stringify({ ok: failed === 0, mode: config.local.enabled ? 'local' : 'cloud', checks: results })}\n`);
  } else {
    const mode = config.local.enabled ? `local mode: ${config.local.reason}` : `cloud ${config.cloudUrl}`;
    out(`orchestrator-agent doctor, data folder ${config.dataDir}; ${mode}\n`);
    for (const r of results) out(`${formatResult(r)}\n`);
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
    out(
      failed === 0
        ? `no check failed${warned ? `, ${plural(warned, 'warning')}` : ''}.\n`
        : `${plural(failed, 'check')} failed${warned ? `, ${plural(warned, 'warning')}` : ''}.\n`,
    );
  }
  return failed === 0 ? 0 : 1;
}

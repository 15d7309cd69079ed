import { CONFIG_OPTIONS } from '../config.js';

/**
 * The command lines of ctl and doctor mix their own flags with the agent's (`--data-dir`, `DOCKER_HOST`'s flagless
 * siblings, `--log-level` …), so both find the same folders and engine as the agent would. This splits them: the
 * agent's flags go to the agent's option table, the rest to the tool.
 */

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface FlagSpec {
  /** Takes a value (`--flag v` or `--flag=v`); otherwise it is an on/off flag. */
  value: boolean;
  repeat?: boolean;
  /**
   * For a flag whose value may be left out: whether the next argument is its value (`--json` takes the next
   * argument only when it is a JSON object or `-`).
   */
  takesNext?: (next: string) => boolean;
}

export interface SplitArgs {
  agentArgs: string[];
  positionals: string[];
  /** Each tool flag's values in order (`[]` for an on/off flag that was given). */
  flags: Map<string, string[]>;
}

function agentFlags(): Map<string, boolean> {
  const names = new Map<string, boolean>();
  for (const o of CONFIG_OPTIONS) {
    if (o.flag === undefined) continue;
    names.set(`--${o.flag}`, !o.switch);
    if (o.switch) names.set(`--no-${o.flag}`, false);
    if (o.short) names.set(`-${o.short}`, true);
  }
  return names;
}

export function splitToolArgs(
  argv: readonly string[],
  spec: Readonly<Record<string, FlagSpec>>,
  tool: string,
): SplitArgs {
  const agent = agentFlags();
  const out: SplitArgs = { agentArgs: [], positionals: [], flags: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith('-') || token === '-' || /^-\d/.test(token)) {
      out.positionals.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const name = eq === -1 ? token : token.slice(0, eq);
    const inline = eq === -1 ? undefined : token.slice(eq + 1);
    if (agent.has(name)) {
      out.agentArgs.push(token);
      if (agent.get(name) && inline === undefined && i + 1 < argv.length) out.agentArgs.push(argv[++i]!);
      continue;
    }
    const flag = spec[name];
    if (flag === undefined) throw new UsageError(`unknown flag ${name} (see ${tool} --help)`);
    const values = out.flags.get(name) ?? [];
    if (values.length > 0 && flag.value && !flag.repeat) throw new UsageError(`${name} is given twice`);
    if (flag.value) {
      let value = inline;
      if (value === undefined) {
        const next = argv[i + 1];
        if (next !== undefined && (flag.takesNext ? flag.takesNext(next) : true)) {
          value = next;
          i++;
        } else if (!flag.takesNext) {
          throw new UsageError(`${name} needs a value`);
        }
      }
      if (value !== undefined) values.push(value);
    } else if (inline !== undefined) {
      throw new UsageError(`${name} takes no value`);
    }
    out.flags.set(name, values);
  }
  return out;
}

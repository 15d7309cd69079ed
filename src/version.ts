/**
 * The version of this build, from one place for the agent and the sidecar (both are built from this package):
 * `AGENT_VERSION` when the environment sets it (the release images stamp it at build, as the old agent's images do),
 * else the `version` of package.json, else `unknown`.
 */
import { readFileSync } from 'node:fs';

/** What `get_orchestrator_version` and the heartbeat answer when no version can be read (the old agent's word). */
export const UNKNOWN_VERSION = 'unknown';

/**
 * The version given this environment. The environment is handed in (src/config.ts hands the agent's, the sidecar's
 * main its own): only the composition roots read it.
 */
export function buildVersion(env: Readonly<Record<string, string | undefined>>): string {
  return fromEnv(env) ?? packageVersion();
}

function fromEnv(env: Readonly<Record<string, string | undefined>>): string | undefined {
  // A stamped value is shown to the cloud as it is; only blank values and control characters are not a version.
  const value = env.AGENT_VERSION?.trim();
  if (!value || [...value].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) return undefined;
  return value.slice(0, 128);
}

/**
 * The package's own version: src/ when run with tsx, dist/src/ or dist/sidecar/src/ when built by tsc, and
 * dist/src/chunks/ when this module lands in a chunk of the release bundle.
 */
function packageVersion(): string {
  for (const relative of ['../package.json', '../../package.json', '../../../package.json']) {
    try {
      // Read once, at the first question: not a hot path.
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'orchestrator-agent' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return UNKNOWN_VERSION;
}

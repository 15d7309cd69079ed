import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * A registry-free stand-in for the OpenPLC runtime image (see scripts/build-runtime-standin.sh and
 * test/support/standin/server.mjs): HTTPS on 8443 with a self-signed certificate, plain HTTP on 8080,
 * busybox for sh/udhcpc/ip. Tests pass it as the runtime image instead of ghcr.io/autonomy-logic/openplc-runtime.
 */
export const STANDIN_IMAGE = 'orchestrator-test/openplc-standin:latest';

const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build-runtime-standin.sh', import.meta.url));
const BUILD_TIMEOUT_MS = 5 * 60_000;

const pending = new Map<string, Promise<string>>();

/**
 * Makes sure the engine behind `dockerSocketPath` has the stand-in image, building it from this host's files when it
 * is missing or out of date (the script compares a hash label, so this costs one `docker image inspect` when it is
 * current). Resolves to the image reference to use in container create calls.
 */
export function ensureStandinImage(dockerSocketPath = '/var/run/docker.sock'): Promise<string> {
  const known = pending.get(dockerSocketPath);
  if (known) return known;
  // Only concurrent callers share a run: a later call re-checks, in case a test removed the image meanwhile.
  const build = runBuild(dockerSocketPath).finally(() => pending.delete(dockerSocketPath));
  pending.set(dockerSocketPath, build);
  return build;
}

function runBuild(dockerSocketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [BUILD_SCRIPT, '--socket', dockerSocketPath],
      { timeout: BUILD_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 },
      (err, _stdout, stderr) => {
        if (err) {
          const why = stderr.trim() || err.message;
          reject(new Error(`could not build the OpenPLC stand-in image on ${dockerSocketPath}: ${why}`));
          return;
        }
        resolve(STANDIN_IMAGE);
      },
    );
  });
}

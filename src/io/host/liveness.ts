import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The agent's own liveness, for the image's HEALTHCHECK (src/cli/healthcheck.ts): once the agent has started, its
 * event loop rewrites this file every BEAT_MS. A crashed agent writes nothing, and so does one whose event loop
 * hangs; the health check reads the file's age. It lives in the container's own temporary folder, never in the
 * shared volume, so no other container (or a second agent on a developer's machine) can make it look alive.
 */
export const LIVENESS_FILE = join(tmpdir(), 'orchestrator-agent.alive');
export const BEAT_MS = 10_000;
/** Older than this, the agent is not alive: three beats missed, with room for a slow disk. */
export const STALE_MS = 45_000;

export class LivenessBeat {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly file = LIVENESS_FILE,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  start(): void {
    const beat = () => {
      writeFile(this.file, `${JSON.stringify({ pid: process.pid, at: new Date().toISOString() })}\n`).catch(
        this.onError,
      );
    };
    beat();
    this.timer = setInterval(beat, BEAT_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { errorText } from '../../model/errors.js';

/**
 * Crash-safe whole-file replacement (the old agent rewrote files in place, so a crash or a power cut
 * mid-write left a truncated file): the new content goes to a temporary file beside the target, is fsynced, renamed
 * over the target (atomic on one file system) and the directory entry is fsynced too. A reader therefore sees the
 * old content or the new one, never a mix.
 */

let sequence = 0;

export async function writeFileAtomic(path: string, data: string, opts: { mode?: number } = {}): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  sequence += 1;
  const temp = join(dir, `${basename(path)}.tmp-${process.pid}-${sequence}`);
  let renamed = false;
  try {
    // The mode is set at creation, so a private key is never readable by others, not even for a moment.
    const handle = await open(temp, 'w', opts.mode ?? 0o644);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    renamed = true;
    await syncDirectory(dir);
  } finally {
    if (!renamed) await unlink(temp).catch(() => undefined);
  }
}

/** Make the rename itself durable. Some file systems refuse fsync on a directory; the rename stands anyway. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // EINVAL/EISDIR on file systems without directory fsync: nothing more can be done.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** A file's content was not what it must be (not JSON, or not the expected shape). */
export class CorruptFile extends Error {}

export type ReadOutcome<T> =
  | { kind: 'missing' }
  | { kind: 'ok'; value: T }
  /** Set aside as `movedTo` (null if even the rename failed); the caller rebuilds the content. */
  | { kind: 'corrupt'; reason: string; movedTo: string | null };

/** `<name>.corrupt-<time>`, with a time that is a valid file name everywhere. */
export function setAsideName(path: string, at: Date): string {
  return `${path}.corrupt-${at.toISOString().replace(/:/g, '-')}`;
}

/**
 * Read and parse a JSON file. A missing file is normal (first start). A file that is not JSON (truncated by a
 * crash of another writer, edited by hand) or whose shape `parse` rejects is renamed to `<name>.corrupt-<time>` so
 * that nothing is lost and the agent can rebuild the content; it never stops the agent.
 */
export async function readJsonFile<T>(
  path: string,
  parse: (raw: unknown) => T,
  opts: { log: Logger; now?: () => Date },
): Promise<ReadOutcome<T>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  let reason: string;
  try {
    return { kind: 'ok', value: parse(JSON.parse(text) as unknown) };
  } catch (err) {
    reason = errorText(err);
  }
  const target = setAsideName(path, (opts.now ?? (() => new Date()))());
  let movedTo: string | null = target;
  try {
    await rename(path, target);
  } catch (err) {
    movedTo = null;
    opts.log.error({ step: 'store.set_aside_failed', file: path, err }, 'could not set a corrupt file aside');
  }
  opts.log.error(
    { step: 'store.corrupt', file: path, reason, setAside: movedTo },
    'persisted file is corrupt; set aside and rebuilt from Docker',
  );
  return { kind: 'corrupt', reason, movedTo };
}

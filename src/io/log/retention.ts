import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const DAY_MS = 86_400_000;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Delete `<prefix>YYYY-MM-DD.log` files in `dir` whose date is more than `retentionDays` days before `today` (UTC),
 * judged by the date in the name (mtime changes whenever a file is copied or touched). Keeps today's file and the
 * `retentionDays` before it. Returns the names it deleted; a missing folder deletes nothing.
 */
export async function pruneLogFiles(
  dir: string,
  prefix: string,
  today: Date,
  retentionDays: number,
): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const pattern = new RegExp(`^${escapeRegExp(prefix)}(\\d{4})-(\\d{2})-(\\d{2})\\.log$`);
  const todayMs = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  const deleted: string[] = [];
  for (const name of names) {
    const match = pattern.exec(name);
    if (match === null) continue;
    const fileMs = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
    if ((todayMs - fileMs) / DAY_MS <= retentionDays) continue;
    try {
      await unlink(join(dir, name));
      deleted.push(name);
    } catch {
      // Already gone or not ours to delete: the next sweep tries again.
    }
  }
  return deleted;
}

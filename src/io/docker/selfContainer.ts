import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Which container this process runs in, from what the kernel says about the process itself — never from labels,
 * which any container can carry (a second agent, a test, someone's copy of the image), nor from a name.
 *
 * Two sources, because neither is always there:
 * - `/proc/self/mountinfo`: Docker bind-mounts `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` from
 *   `<data-root>/containers/<id>/` into every container, whatever the cgroup version or cgroup namespace. Only those
 *   three mount points count: on the host, dockerd's own mounts under `containers/<id>/` (each container's shm) are
 *   in the mount table too, and name other containers.
 * - `/proc/self/cgroup`: `/docker/<id>` (cgroupfs driver) or `docker-<id>.scope` (systemd driver) on cgroup v1, and on
 *   v2 without a private cgroup namespace.
 */

const FULL_ID = /^[0-9a-f]{64}$/;
const ETC_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);
const MOUNT_ROOT = /\/containers\/([0-9a-f]{64})\/(?:hostname|hosts|resolv\.conf)$/;
const CGROUP_PATH = /(?:^|\/)docker[-/]([0-9a-f]{64})(?:\.scope)?(?:\/|$)/;

/** Mount-table octal escapes (`\040` for a space) as the kernel writes them. */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Container ids named by the container's own `/etc` bind mounts in a `mountinfo` text. */
export function containerIdsFromMountinfo(text: string): string[] {
  const ids = new Set<string>();
  for (const line of text.split('\n')) {
    // <id> <parent> <major:minor> <root> <mount point> ...
    const fields = line.split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined || !ETC_FILES.has(unescapeMount(mountPoint))) continue;
    const match = MOUNT_ROOT.exec(unescapeMount(root));
    if (match?.[1]) ids.add(match[1]);
  }
  return [...ids];
}

/** Container ids named by Docker's cgroup paths in a `/proc/<pid>/cgroup` text. */
export function containerIdsFromCgroup(text: string): string[] {
  const ids = new Set<string>();
  for (const line of text.split('\n')) {
    // <hierarchy>:<controllers>:<path>
    const path = line.split(':').slice(2).join(':');
    const match = CGROUP_PATH.exec(path);
    if (match?.[1] && FULL_ID.test(match[1])) ids.add(match[1]);
  }
  return [...ids];
}

/** The container ids this process's own `/proc` entries name, mount table first (`procRoot` for tests). */
export async function ownContainerIds(procRoot = '/proc'): Promise<string[]> {
  const read = (file: string) => readFile(join(procRoot, 'self', file), 'utf8').catch(() => '');
  const [mountinfo, cgroup] = await Promise.all([read('mountinfo'), read('cgroup')]);
  return [...new Set([...containerIdsFromMountinfo(mountinfo), ...containerIdsFromCgroup(cgroup)])];
}

/** Docker sets `HOSTNAME` to the short id (12 hex digits) unless the container was given a host name. */
export function looksLikeShortId(hostname: string): boolean {
  return /^[0-9a-f]{12,64}$/.test(hostname);
}

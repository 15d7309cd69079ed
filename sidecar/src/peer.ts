/**
 * Who is at the other end of a connection to the sidecar's socket. The socket file's mode (0660, owner root) is the
 * first gate; this is the second, because the sidecar acts with host privileges and its socket sits on a volume that
 * other containers may mount. Node has no SO_PEERCRED, so the kernel's own socket table is asked instead:
 *
 * 1. the accepted socket's inode (fstat of its file descriptor);
 * 2. `ss -xpn`, which reads the table through sock_diag: the line of our end names the peer's inode, and the line of
 *    the peer's end names the processes holding it (ss finds them in /proc, which the sidecar sees whole: host PID);
 * 3. each such process's effective uid, from /proc/<pid>/status.
 *
 * Any doubt refuses the connection: no file descriptor, no table, no peer line, no process, an unreadable status.
 */
import { execFile } from 'node:child_process';
import { fstat } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const fstatAsync = promisify(fstat);

export interface PeerProcess {
  pid: number;
  /** Effective uid, as the kernel checks permissions with it. */
  uid: number;
}

export interface PeerLookup {
  /** The `ss` binary (iproute2). */
  ss?: string;
  procRoot?: string;
  timeoutMs?: number;
}

interface SocketLine {
  inode: number;
  peer: number;
  pids: number[];
}

/** The connected Unix stream sockets of an `ss -xpnH` listing: own inode, peer inode, holding processes. */
export function parseUnixSockets(text: string): SocketLine[] {
  const lines: SocketLine[] = [];
  for (const line of text.split('\n')) {
    // ... <local address> <inode> <peer address> <peer inode> [users:(("name",pid=N,fd=M),...)]
    const match = /\s(\d+)\s+\S+\s+(\d+)(?:\s+users:\((.*)\))?\s*$/.exec(line);
    if (!match || !line.startsWith('u_str')) continue;
    const pids = [...(match[3] ?? '').matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    lines.push({ inode: Number(match[1]), peer: Number(match[2]), pids: [...new Set(pids)] });
  }
  return lines;
}

/** The inode of an accepted socket, from its file descriptor. */
async function socketInode(socket: Socket): Promise<number> {
  // Node keeps the descriptor on its internal handle; there is no public accessor for it.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the connection has no file descriptor to look up');
  return (await fstatAsync(fd)).ino;
}

async function effectiveUid(pid: number, procRoot: string): Promise<number> {
  const status = await readFile(join(procRoot, String(pid), 'status'), 'utf8');
  const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1];
  if (uid === undefined) throw new Error(`process ${pid} has no Uid line in its status`);
  return Number(uid);
}

/** The processes holding the other end of `socket`, each with its effective uid. Rejects when unsure. */
export async function peerProcesses(socket: Socket, lookup: PeerLookup = {}): Promise<PeerProcess[]> {
  const inode = await socketInode(socket);
  const { stdout } = await execFileAsync(lookup.ss ?? 'ss', ['-xpnH'], {
    timeout: lookup.timeoutMs ?? 3000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const sockets = parseUnixSockets(stdout);
  const ours = sockets.find((s) => s.inode === inode);
  if (!ours) throw new Error(`socket ${inode} is not in the kernel's socket table`);
  const theirs = sockets.find((s) => s.inode === ours.peer);
  if (!theirs || theirs.pids.length === 0) throw new Error('no process holds the other end of the connection');
  const procRoot = lookup.procRoot ?? '/proc';
  // A holder that is gone by now (a child forked a moment ago, holding the descriptor until it execs) can do
  // nothing with it any more; the ones still there decide, and there must be one.
  const found = await Promise.all(
    theirs.pids.map(async (pid) => {
      try {
        return [{ pid, uid: await effectiveUid(pid, procRoot) }];
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') {
          return [];
        }
        throw err;
      }
    }),
  );
  const peers = found.flat();
  if (peers.length === 0) throw new Error('the processes that held the other end of the connection are gone');
  return peers;
}

/**
 * Why the peer of `socket` may not use the sidecar (null when it may): every process holding the other end must run
 * as one of `allowedUids`.
 */
export async function peerProblem(
  socket: Socket,
  allowedUids: ReadonlySet<number>,
  lookup: PeerLookup = {},
): Promise<string | null> {
  let peers: PeerProcess[];
  try {
    peers = await peerProcesses(socket, lookup);
  } catch (err) {
    return `the connecting process could not be identified (${err instanceof Error ? err.message : String(err)})`;
  }
  const stranger = peers.find((p) => !allowedUids.has(p.uid));
  if (!stranger) return null;
  return `process ${stranger.pid} runs as uid ${stranger.uid}; only uid ${[...allowedUids].sort((a, b) => a - b).join(', ')} may use this socket`;
}

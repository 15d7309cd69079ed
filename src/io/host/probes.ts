import { createPrivateKey, X509Certificate } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rm, stat, statfs } from 'node:fs/promises';
import https from 'node:https';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';

/** Small questions about the host for `doctor`: each answers from the kernel or the file system, never throws. */

export interface InterfaceFacts {
  exists: boolean;
  up: boolean;
  wireless: boolean;
}

const SYS_NET = '/sys/class/net';

export async function interfaceFacts(name: string): Promise<InterfaceFacts> {
  const dir = join(SYS_NET, name);
  try {
    await access(dir);
  } catch {
    return { exists: false, up: false, wireless: false };
  }
  // IFF_UP is bit 0 of the flags; operstate alone says "unknown" for veths and some drivers that are up.
  const flags = Number.parseInt((await readFile(join(dir, 'flags'), 'utf8').catch(() => '0')).trim(), 16);
  const wireless = await access(join(dir, 'wireless')).then(
    () => true,
    () => false,
  );
  return { exists: true, up: (flags & 1) === 1, wireless };
}

/** Host interfaces that could carry MACVLAN networks: up, not loopback, not Docker's or a veth's peer side. */
export async function candidateParents(): Promise<string[]> {
  const names = await readdir(SYS_NET).catch(() => [] as string[]);
  const out: string[] = [];
  for (const name of names.sort()) {
    if (name === 'lo' || /^(docker|br-|veth|virbr)/.test(name)) continue;
    if ((await interfaceFacts(name)).up) out.push(name);
  }
  return out;
}

/** Free bytes for an unprivileged writer on the file system holding `path` (or its nearest existing parent). */
export async function freeBytes(path: string): Promise<{ path: string; free: number; total: number }> {
  let at = path;
  for (;;) {
    try {
      const s = await statfs(at);
      return { path: at, free: s.bavail * s.bsize, total: s.blocks * s.bsize };
    } catch (err) {
      const parent = dirname(at);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) throw err;
      at = parent;
    }
  }
}

export type FolderFacts =
  | { kind: 'missing'; creatableIn: string | null; problem: string | null }
  | { kind: 'not_a_folder' }
  | { kind: 'folder'; writable: boolean; problem: string | null; mode: number };

/** Whether the agent can keep its state in `dir`: tried by writing a probe file, as permissions alone do not say it. */
export async function folderFacts(dir: string): Promise<FolderFacts> {
  let s: Awaited<ReturnType<typeof stat>>;
  try {
    s = await stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') return { kind: 'not_a_folder' };
    if (code !== 'ENOENT') return { kind: 'missing', creatableIn: null, problem: code ?? 'unreadable' };
    // Missing: the agent makes it, so the nearest existing parent must take a new folder.
    let parent = dirname(dir);
    while (parent !== dirname(parent)) {
      const p = await stat(parent).catch(() => null);
      if (p) break;
      parent = dirname(parent);
    }
    const probe = join(parent, `.orchestrator-doctor-${process.pid}`);
    try {
      await mkdir(probe);
      await rm(probe, { recursive: true, force: true });
      return { kind: 'missing', creatableIn: parent, problem: null };
    } catch (e) {
      return { kind: 'missing', creatableIn: null, problem: `${(e as NodeJS.ErrnoException).code} in ${parent}` };
    }
  }
  if (!s.isDirectory()) return { kind: 'not_a_folder' };
  const probe = join(dir, `.orchestrator-doctor-${process.pid}`);
  try {
    const handle = await open(probe, 'w');
    await handle.close();
    await rm(probe, { force: true });
    return { kind: 'folder', writable: true, problem: null, mode: s.mode & 0o777 };
  } catch (err) {
    return {
      kind: 'folder',
      writable: false,
      problem: (err as NodeJS.ErrnoException).code ?? 'not writable',
      mode: s.mode & 0o777,
    };
  }
}

export type SocketFacts = { kind: 'answers' } | { kind: 'missing' } | { kind: 'refused'; code: string };

/** Whether something accepts connections on a Unix socket. */
export function unixSocketFacts(path: string, timeoutMs = 2_000): Promise<SocketFacts> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const timer = setTimeout(() => done({ kind: 'refused', code: 'ETIMEDOUT' }), timeoutMs);
    function done(facts: SocketFacts) {
      clearTimeout(timer);
      socket.destroy();
      resolve(facts);
    }
    socket.once('connect', () => done({ kind: 'answers' }));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ENOENT' ? { kind: 'missing' } : { kind: 'refused', code: err.code ?? err.message }),
    );
  });
}

export interface CertificateFacts {
  subject: string;
  commonName: string | null;
  notBefore: Date;
  notAfter: Date;
  /** Whether the key (when given) belongs to the certificate. */
  keyMatches: boolean | null;
}

export function certificateFacts(certPem: string, keyPem?: string): CertificateFacts {
  const cert = new X509Certificate(certPem);
  const cn = cert.subject
    .split('\n')
    .find((l) => l.startsWith('CN='))
    ?.slice(3)
    .trim();
  let keyMatches: boolean | null = null;
  if (keyPem !== undefined) {
    try {
      keyMatches = cert.checkPrivateKey(createPrivateKey(keyPem));
    } catch {
      // A key Node cannot read does not match anything.
      keyMatches = false;
    }
  }
  return {
    subject: cert.subject.replaceAll('\n', ', '),
    commonName: cn || null,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    keyMatches,
  };
}

/** The mode bits of a file, or null when it cannot be read. */
export async function fileMode(path: string): Promise<number | null> {
  try {
    await access(path, constants.R_OK);
    return (await stat(path)).mode & 0o777;
  } catch {
    return null;
  }
}

/**
 * The server's clock as its HTTP `Date` header gives it (second resolution), read over the same mutual TLS the
 * agent uses, and the local time halfway through the request.
 */
export function serverDate(
  url: string,
  tls: { key: string; cert: string; ca: string[] },
  timeoutMs = 5_000,
): Promise<{ server: Date; local: Date }> {
  return new Promise((resolve, reject) => {
    const sent = Date.now();
    const request = https.get(
      new URL('/socket.io/?EIO=4&transport=polling', url),
      { key: tls.key, cert: tls.cert, ca: tls.ca, timeout: timeoutMs },
      (response) => {
        const received = Date.now();
        response.resume();
        const header = response.headers.date;
        const server = header ? new Date(header) : null;
        if (!server || Number.isNaN(server.getTime())) {
          reject(new Error(`${url} sent no Date header`));
          return;
        }
        resolve({ server, local: new Date((sent + received) / 2) });
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

/** Whether a process with this id exists (one of another user answers EPERM, and exists too). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

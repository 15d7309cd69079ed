import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorText } from '../../model/errors.js';
import { writeFileAtomic } from '../store/atomicFile.js';
import { issueCertificate, type PemPair } from './certificates.js';

/**
 * The local mode's private PKI, kept under `<data-dir>/local/`: a CA, the embedded endpoint's server certificate,
 * the agent's client certificate (laid out as an mTLS folder, `client.crt` + `client.key`, exactly as the installer
 * lays out ~/.mtls, so the agent loads it the way it loads the cloud's) and ctl's client certificate.
 *
 * Made once and reused on every start while valid; a certificate that has expired (or will within a day), does not
 * match its key or was not signed by the CA is made again, and a bad CA renews everything. Folders are 0700, keys
 * 0600: whoever can read a key can drive the agent.
 */

export const CTL_COMMON_NAME = 'orchestrator-ctl';
const ORGANISATION = 'orchestrator-agent local mode';
const DAY_MS = 86_400_000;
const CA_VALID_DAYS = 3650;
const LEAF_VALID_DAYS = 365;
/** A certificate this close to its end is renewed at start, so it cannot expire while the agent runs a day. */
const RENEW_BEFORE_MS = DAY_MS;

export interface LocalPkiLayout {
  /** `<data-dir>/local` */
  dir: string;
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** The agent's mTLS folder: its `--mtls-dir` in local mode. */
  agentMtlsDir: string;
  /** ctl's mTLS folder. */
  ctlMtlsDir: string;
  /** Where the endpoint tells ctl its address. */
  endpointFile: string;
}

export function localLayout(dataDir: string): LocalPkiLayout {
  const dir = join(dataDir, 'local');
  return {
    dir,
    caFile: join(dir, 'ca', 'ca.crt'),
    caKeyFile: join(dir, 'ca', 'ca.key'),
    serverCertFile: join(dir, 'server', 'server.crt'),
    serverKeyFile: join(dir, 'server', 'server.key'),
    agentMtlsDir: join(dir, 'agent'),
    ctlMtlsDir: join(dir, 'ctl'),
    endpointFile: join(dir, 'endpoint.json'),
  };
}

export interface LocalPki {
  layout: LocalPkiLayout;
  ca: PemPair;
  server: PemPair;
  agent: PemPair;
  ctl: PemPair;
  /** The certificates made in this call (empty when every one was reused). */
  issued: Array<'ca' | 'server' | 'agent' | 'ctl'>;
}

export interface EnsureLocalPkiOptions {
  /** The agent's id in local mode: its client certificate's CN. */
  agentCommonName: string;
  log: Logger;
  now?: Date;
}

interface Slot {
  name: 'server' | 'agent' | 'ctl';
  certFile: string;
  keyFile: string;
  commonName: string;
  role: 'server' | 'client';
}

export async function ensureLocalPki(dataDir: string, opts: EnsureLocalPkiOptions): Promise<LocalPki> {
  const layout = localLayout(dataDir);
  const now = opts.now ?? new Date();
  const log = opts.log;
  await privateFolder(layout.dir);
  const issued: LocalPki['issued'] = [];

  let ca = await readPair(layout.caFile, layout.caKeyFile);
  const caProblem = ca === null ? 'missing' : problemOf(ca, { now, role: 'ca' });
  if (ca === null || caProblem !== null) {
    log.info({ step: 'pki.ca.issuing', reason: caProblem }, 'making the local CA');
    ca = await issueCertificate({
      commonName: 'orchestrator-agent local CA',
      organisation: ORGANISATION,
      role: 'ca',
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + CA_VALID_DAYS * DAY_MS),
    });
    await writePair(layout.caFile, layout.caKeyFile, ca);
    issued.push('ca');
  }

  const slots: Slot[] = [
    {
      name: 'server',
      certFile: layout.serverCertFile,
      keyFile: layout.serverKeyFile,
      commonName: 'localhost',
      role: 'server',
    },
    {
      name: 'agent',
      certFile: join(layout.agentMtlsDir, 'client.crt'),
      keyFile: join(layout.agentMtlsDir, 'client.key'),
      commonName: opts.agentCommonName,
      role: 'client',
    },
    {
      name: 'ctl',
      certFile: join(layout.ctlMtlsDir, 'client.crt'),
      keyFile: join(layout.ctlMtlsDir, 'client.key'),
      commonName: CTL_COMMON_NAME,
      role: 'client',
    },
  ];
  const pairs = {} as Record<Slot['name'], PemPair>;
  for (const slot of slots) {
    const existing = issued.includes('ca') ? null : await readPair(slot.certFile, slot.keyFile);
    const problem =
      existing === null ? 'missing' : problemOf(existing, { now, role: slot.role, ca, commonName: slot.commonName });
    if (existing !== null && problem === null) {
      pairs[slot.name] = existing;
      continue;
    }
    log.info(
      { step: 'pki.certificate.issuing', certificate: slot.name, reason: problem },
      'making a local certificate',
    );
    const pair = await issueCertificate({
      commonName: slot.commonName,
      organisation: ORGANISATION,
      role: slot.role,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + LEAF_VALID_DAYS * DAY_MS),
      issuer: ca,
      ...(slot.role === 'server' ? { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] } : {}),
    });
    await writePair(slot.certFile, slot.keyFile, pair);
    pairs[slot.name] = pair;
    issued.push(slot.name);
  }
  log.info(
    { step: 'pki.ready', dir: layout.dir, issued, reused: slots.filter((s) => !issued.includes(s.name)).length },
    issued.length === 0 ? 'local certificates reused' : 'local certificates ready',
  );
  return { layout, ca, ...pairs, issued };
}

/** Why a stored pair cannot be used, or null when it can. */
function problemOf(
  pair: PemPair,
  want: { now: Date; role: 'ca' | 'server' | 'client'; ca?: PemPair; commonName?: string },
): string | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.certPem);
  } catch (err) {
    return `unreadable certificate (${errorText(err)})`;
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(pair.keyPem))) return 'the key does not match the certificate';
  } catch (err) {
    return `unreadable key (${errorText(err)})`;
  }
  const notAfter = Date.parse(cert.validTo);
  if (!(notAfter - RENEW_BEFORE_MS > want.now.getTime())) return `expires ${new Date(notAfter).toISOString()}`;
  if (Date.parse(cert.validFrom) > want.now.getTime()) return 'not valid yet';
  if (want.role === 'ca' && !cert.ca) return 'not a CA certificate';
  if (want.ca) {
    const ca = new X509Certificate(want.ca.certPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'not signed by the local CA';
  }
  if (want.commonName !== undefined && !cert.subject.split('\n').includes(`CN=${want.commonName}`)) {
    return `its name is not ${want.commonName}`;
  }
  return null;
}

async function readPair(certFile: string, keyFile: string): Promise<PemPair | null> {
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    return { certPem, keyPem };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function writePair(certFile: string, keyFile: string, pair: PemPair): Promise<void> {
  await privateFolder(join(certFile, '..'));
  // The key first: a crash between the two leaves a certificate that does not match its key, which the next
  // start notices and renews.
  await writeFileAtomic(keyFile, pair.keyPem, { mode: 0o600 });
  await writeFileAtomic(certFile, pair.certPem, { mode: 0o644 });
}

/** A folder only its owner can enter (mkdir's mode is narrowed by the umask and ignored for existing folders). */
async function privateFolder(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

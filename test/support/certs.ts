import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The installer's subject for an orchestrator certificate; its CN is the agent id the cloud knows. */
export const TEST_AGENT_CN = '07048933';
export const TEST_AGENT_SUBJECT = `/C=BR/ST=SP/L=SaoPaulo/O=AutonomyLogic/OU=Production/CN=${TEST_AGENT_CN}`;

export interface PemPair {
  keyPem: string;
  certPem: string;
}

/** A throw-away PKI for one test file: a CA the test cloud trusts, its server certificate and three agent identities. */
export interface TestPki {
  dir: string;
  /** PEM of the CA that signed the server and the good client certificates; give it to both sides. */
  caFile: string;
  caPem: string;
  /** Server certificate for `localhost` / `127.0.0.1`, signed by the CA. */
  server: PemPair;
  /** mTLS folder (`client.crt`, `client.key`) with CN 07048933, signed by the CA: the agent's `--mtls-dir`. */
  mtlsDir: string;
  /** mTLS folder whose certificate subject has no CN (`/O=AutonomyLogic`), signed by the CA. */
  mtlsNoCnDir: string;
  /** mTLS folder with CN 07048933 signed by an unrelated CA: the cloud must refuse it. */
  mtlsRogueDir: string;
  /** The good client identity (same files as `mtlsDir`). */
  client: PemPair;
  /** The no-CN client identity (same files as `mtlsNoCnDir`). */
  clientNoCn: PemPair;
  /** The rogue client identity (same files as `mtlsRogueDir`). */
  clientRogue: PemPair;
  /** Removes what makeTestPki wrote (the whole directory when makeTestPki created it). */
  cleanup(): Promise<void>;
}

// A private config keeps the result independent of the host's /etc/ssl/openssl.cnf (whose default
// v3_ca section would otherwise clash with ours as "duplicate extension").
const OPENSSL_CNF = `[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

const OPENSSL_TIMEOUT_MS = 20_000;
const VALID_DAYS = '30';

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { timeout: OPENSSL_TIMEOUT_MS });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed while making the test PKI: ${e.stderr?.trim() || e.message}`);
  }
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const randomSerial = (): string => `0x${randomBytes(8).toString('hex')}`;

async function makeCa(dir: string, cnf: string, base: string, subject: string): Promise<void> {
  await openssl([
    'req',
    '-x509',
    '-config',
    cnf,
    '-extensions',
    'ca_ext',
    ...ecKey,
    '-keyout',
    join(dir, `${base}.key`),
    '-out',
    join(dir, `${base}.crt`),
    '-days',
    VALID_DAYS,
    '-subj',
    subject,
    '-set_serial',
    randomSerial(),
  ]);
}

async function makeLeaf(opts: {
  dir: string;
  cnf: string;
  caBase: string;
  keyOut: string;
  certOut: string;
  subject: string;
  ext: 'server_ext' | 'client_ext';
}): Promise<void> {
  const csr = `${opts.certOut}.csr`;
  await openssl([
    'req',
    '-new',
    '-config',
    opts.cnf,
    ...ecKey,
    '-keyout',
    opts.keyOut,
    '-out',
    csr,
    '-subj',
    opts.subject,
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(opts.dir, `${opts.caBase}.crt`),
    '-CAkey',
    join(opts.dir, `${opts.caBase}.key`),
    '-set_serial',
    randomSerial(),
    '-days',
    VALID_DAYS,
    '-extfile',
    opts.cnf,
    '-extensions',
    opts.ext,
    '-out',
    opts.certOut,
  ]);
  await unlink(csr);
}

async function makeMtlsDir(dir: string, cnf: string, name: string, caBase: string, subject: string): Promise<string> {
  // The installer's layout and modes: folder 700, key 600, certificate 644.
  const mtls = join(dir, name);
  await mkdir(mtls, { recursive: true, mode: 0o700 });
  const keyOut = join(mtls, 'client.key');
  const certOut = join(mtls, 'client.crt');
  await makeLeaf({ dir, cnf, caBase, keyOut, certOut, subject, ext: 'client_ext' });
  await chmod(keyOut, 0o600);
  await chmod(certOut, 0o644);
  return mtls;
}

async function readPair(keyFile: string, certFile: string): Promise<PemPair> {
  const [keyPem, certPem] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')]);
  return { keyPem, certPem };
}

/**
 * Signs a certificate request (PEM) with the PKI's CA as a client certificate, as the cloud's enrolment does.
 */
export async function signClientCsr(pki: TestPki, csrPem: string): Promise<string> {
  const csr = join(pki.dir, `enrol-${randomBytes(4).toString('hex')}.csr`);
  const crt = `${csr}.crt`;
  await writeFile(csr, csrPem);
  try {
    await openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      pki.caFile,
      '-CAkey',
      join(pki.dir, 'ca.key'),
      '-set_serial',
      randomSerial(),
      '-days',
      VALID_DAYS,
      '-extfile',
      join(pki.dir, 'openssl.cnf'),
      '-extensions',
      'client_ext',
      '-out',
      crt,
    ]);
    return await readFile(crt, 'utf8');
  } finally {
    await rm(csr, { force: true });
    await rm(crt, { force: true });
  }
}

/**
 * Makes a fresh PKI with the `openssl` CLI (EC P-256 keys: a few tens of milliseconds per certificate).
 * Layout under `dir`: `ca.crt|key`, `server.crt|key`, `rogue-ca.crt|key`, `mtls/`, `mtls-nocn/`, `mtls-rogue/`.
 */
export async function makeTestPki(dir?: string, opts: { serverIps?: string[] } = {}): Promise<TestPki> {
  const created = dir === undefined;
  const root = dir ?? (await mkdtemp(join(tmpdir(), 't1-pki-')));
  await mkdir(root, { recursive: true });
  const cnf = join(root, 'openssl.cnf');
  // Extra server addresses: a cloud a container reaches on the host's bridge address, not on loopback.
  const extraIps = (opts.serverIps ?? []).map((ip) => `, IP:${ip}`).join('');
  await writeFile(cnf, OPENSSL_CNF.replace('IP:127.0.0.1\n', `IP:127.0.0.1${extraIps}\n`));

  await Promise.all([
    makeCa(root, cnf, 'ca', '/O=AutonomyLogic Test/CN=Orchestrator Agent Test CA'),
    makeCa(root, cnf, 'rogue-ca', '/O=Rogue Test/CN=Rogue Test CA'),
  ]);
  const [mtlsDir, mtlsNoCnDir, mtlsRogueDir] = await Promise.all([
    makeMtlsDir(root, cnf, 'mtls', 'ca', TEST_AGENT_SUBJECT),
    makeMtlsDir(root, cnf, 'mtls-nocn', 'ca', '/O=AutonomyLogic'),
    makeMtlsDir(root, cnf, 'mtls-rogue', 'rogue-ca', TEST_AGENT_SUBJECT),
    makeLeaf({
      dir: root,
      cnf,
      caBase: 'ca',
      keyOut: join(root, 'server.key'),
      certOut: join(root, 'server.crt'),
      subject: '/O=AutonomyLogic Test/CN=localhost',
      ext: 'server_ext',
    }),
  ]);

  const caFile = join(root, 'ca.crt');
  const pairOf = (d: string) => readPair(join(d, 'client.key'), join(d, 'client.crt'));
  const [caPem, server, client, clientNoCn, clientRogue] = await Promise.all([
    readFile(caFile, 'utf8'),
    readPair(join(root, 'server.key'), join(root, 'server.crt')),
    pairOf(mtlsDir),
    pairOf(mtlsNoCnDir),
    pairOf(mtlsRogueDir),
  ]);

  const written = [
    'openssl.cnf',
    'ca.crt',
    'ca.key',
    'rogue-ca.crt',
    'rogue-ca.key',
    'server.crt',
    'server.key',
    'mtls',
    'mtls-nocn',
    'mtls-rogue',
  ];
  return {
    dir: root,
    caFile,
    caPem,
    server,
    mtlsDir: mtlsDir,
    mtlsNoCnDir: mtlsNoCnDir,
    mtlsRogueDir: mtlsRogueDir,
    client,
    clientNoCn,
    clientRogue,
    async cleanup() {
      if (created) {
        await rm(root, { recursive: true, force: true });
        return;
      }
      // A caller-supplied folder may hold other things: remove only ours.
      await Promise.all(written.map((f) => rm(join(root, f), { recursive: true, force: true })));
    },
  };
}

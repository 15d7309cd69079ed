import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { issueCertificate } from '../../src/io/pki/certificates.js';
import { CTL_COMMON_NAME, ensureLocalPki, localLayout } from '../../src/io/pki/localPki.js';

const log = pino({ level: 'silent' });
let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'lm-pki-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;
const DAY = 86_400_000;

describe('the local PKI', () => {
  it('makes a CA, a server, an agent and a ctl certificate, keys 0600 in 0700 folders', async () => {
    const pki = await ensureLocalPki(dataDir, { agentCommonName: 'local-test', log });
    expect(pki.issued).toEqual(['ca', 'server', 'agent', 'ctl']);
    const layout = localLayout(dataDir);
    for (const dir of [layout.dir, join(layout.dir, 'ca'), layout.agentMtlsDir, layout.ctlMtlsDir]) {
      expect(await mode(dir)).toBe(0o700);
    }
    for (const key of [layout.caKeyFile, layout.serverKeyFile, join(layout.agentMtlsDir, 'client.key')]) {
      expect(await mode(key)).toBe(0o600);
    }
    const ca = new X509Certificate(await readFile(layout.caFile, 'utf8'));
    const server = new X509Certificate(await readFile(layout.serverCertFile, 'utf8'));
    const agent = new X509Certificate(await readFile(join(layout.agentMtlsDir, 'client.crt'), 'utf8'));
    const ctl = new X509Certificate(pki.ctl.certPem);
    expect(ca.ca).toBe(true);
    expect(server.checkIssued(ca) && server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(agent.subject).toContain('CN=local-test');
    expect(ctl.subject).toContain(`CN=${CTL_COMMON_NAME}`);
    expect(agent.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
  });

  it('reuses every certificate on the next start', async () => {
    const first = await ensureLocalPki(dataDir, { agentCommonName: 'local-test', log });
    const second = await ensureLocalPki(dataDir, { agentCommonName: 'local-test', log });
    expect(second.issued).toEqual([]);
    expect(second.agent.certPem).toBe(first.agent.certPem);
  });

  it('renews the certificates that expired and keeps the CA that did not', async () => {
    const first = await ensureLocalPki(dataDir, { agentCommonName: 'local-test', log });
    const later = new Date(Date.now() + 400 * DAY);
    const renewed = await ensureLocalPki(dataDir, { agentCommonName: 'local-test', log, now: later });
    expect(renewed.issued).toEqual(['server', 'agent', 'ctl']);
    expect(renewed.ca.certPem).toBe(first.ca.certPem);
    expect(Date.parse(new X509Certificate(renewed.agent.certPem).validTo)).toBeGreaterThan(later.getTime());
  });

  it('renews everything when the CA was replaced by one that did not sign the others', async () => {
    await ensureLocalPki(dataDir, { agentCommonName: 'local-test', log });
    const layout = localLayout(dataDir);
    const now = new Date();
    const stranger = await issueCertificate({
      commonName: 'someone else',
      role: 'ca',
      notBefore: now,
      notAfter: new Date(now.getTime() + DAY * 10),
    });
    await writeFile(layout.caFile, stranger.certPem);
    await writeFile(layout.caKeyFile, stranger.keyPem);
    // The stranger CA is valid, so it is kept; the leaves it did not sign are made again under it.
    const next = await ensureLocalPki(dataDir, { agentCommonName: 'local-test', log });
    expect(next.issued).toEqual(['server', 'agent', 'ctl']);
  });

  it('gives the agent a new certificate when its name changes', async () => {
    await ensureLocalPki(dataDir, { agentCommonName: 'local-a', log });
    const next = await ensureLocalPki(dataDir, { agentCommonName: 'local-b', log });
    expect(next.issued).toEqual(['agent']);
  });

  it('makes a certificate that is already expired when asked to (for tests of expiry checks)', async () => {
    const ca = await issueCertificate({
      commonName: 'ca',
      role: 'ca',
      notBefore: new Date(Date.now() - 10 * DAY),
      notAfter: new Date(Date.now() + 10 * DAY),
    });
    const old = await issueCertificate({
      commonName: 'old',
      role: 'client',
      notBefore: new Date(Date.now() - 5 * DAY),
      notAfter: new Date(Date.now() - DAY),
      issuer: ca,
    });
    expect(Date.parse(new X509Certificate(old.certPem).validTo)).toBeLessThan(Date.now());
  });
});

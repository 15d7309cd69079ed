// The x509 library resolves its parts through a dependency-injection container that needs the Reflect metadata
// API; it must be loaded before the library is.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * Certificate making for the local mode's private CA: EC P-256 keys and ECDSA-SHA256 signatures through Node's
 * WebCrypto (native, a few milliseconds per certificate), X.509 encoding by @peculiar/x509. Nothing here shells
 * out to openssl, so a fresh machine needs no extra tool.
 */

const crypto = webcrypto;
// Node's WebCrypto is the standard one; the library's typings name the browser's type for it.
x509.cryptoProvider.set(crypto as unknown as ReturnType<typeof x509.cryptoProvider.get>);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A certificate and its private key, both PEM (the key as PKCS#8, which Node's TLS reads as it is). */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** What a certificate is for: the CA signs, a server answers TLS, a client proves who it is. */
export type CertificateRole = 'ca' | 'server' | 'client';

export interface IssueOptions {
  /** Subject common name: the agent id for the agent's client certificate. */
  commonName: string;
  /** Subject organisation, so a reader of the certificate sees where it comes from. */
  organisation?: string;
  role: CertificateRole;
  notBefore: Date;
  notAfter: Date;
  /** Host names and IP addresses a server certificate is valid for. */
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  /** The signing CA; left out, the certificate signs itself (only for role `ca`). */
  issuer?: PemPair;
}

function pem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function derOf(text: string): ArrayBuffer {
  const body = text.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  const bytes = Buffer.from(body, 'base64');
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function distinguishedName(o: IssueOptions): string {
  // Commas and other specials would need escaping in the string form; our names never carry them.
  const safe = (value: string) => value.replace(/[,+="\\<>;#]/g, '_');
  return [o.organisation && `O=${safe(o.organisation)}`, `CN=${safe(o.commonName)}`].filter(Boolean).join(', ');
}

function extensionsFor(o: IssueOptions): x509.Extension[] {
  if (o.role === 'ca') {
    return [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ];
  }
  const usage = o.role === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([usage]),
  ];
  const names = [
    ...(o.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(o.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  return extensions;
}

/** Makes a key pair and a certificate for it, signed by `issuer` (or by itself for a CA without one). */
export async function issueCertificate(o: IssueOptions): Promise<PemPair> {
  const keys = (await crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const subject = distinguishedName(o);
  const extensions = extensionsFor(o);
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  const serialNumber = Buffer.from(crypto.getRandomValues(new Uint8Array(16)))
    .toString('hex')
    // A positive serial: the top bit clear.
    .replace(/^./, (c) => (Number.parseInt(c, 16) & 0x7).toString(16));

  let certificate: x509.X509Certificate;
  if (o.issuer === undefined) {
    if (o.role !== 'ca') throw new Error(`a ${o.role} certificate needs an issuing CA`);
    certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber,
      name: subject,
      notBefore: o.notBefore,
      notAfter: o.notAfter,
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions,
    });
  } else {
    const ca = new x509.X509Certificate(o.issuer.certPem);
    const caKey = await crypto.subtle.importKey('pkcs8', derOf(o.issuer.keyPem), KEY_ALGORITHM, false, ['sign']);
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(ca));
    certificate = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject,
      issuer: ca.subject,
      notBefore: o.notBefore,
      notAfter: o.notAfter,
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions,
    });
  }
  const keyDer = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: certificate.toString('pem').trim() + '\n', keyPem: pem('PRIVATE KEY', keyDer) };
}

import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';

/** The agent's TLS identity towards the cloud (docs/protocol.md#agent-identity). Holds key material: never log it. */
export interface ClientIdentity {
  /** PEM private key of the client certificate. */
  key: string;
  /** PEM client certificate. */
  cert: string;
  /** Trust anchors for the server certificate: the system store plus the optional extra bundle. */
  ca: string[];
  /** The certificate subject's CN, or `UNKNOWN` when it has none. */
  agentId: string;
  /** Whether the CN was found; `false` means agentId is the `UNKNOWN` fallback. */
  agentIdFromCertificate: boolean;
}

export class IdentityError extends Error {
  override readonly name = 'IdentityError';
}

/**
 * Loads `client.crt` / `client.key` from the mTLS folder and the optional extra CA bundle.
 * Node replaces its default trust store when `ca` is given, so the system roots are added explicitly:
 * the issue asks for "system CAs plus --ca-file", not one instead of the other.
 */
export async function loadClientIdentity(mtlsDir: string, caFile: string | null): Promise<ClientIdentity> {
  const certPath = join(mtlsDir, 'client.crt');
  const keyPath = join(mtlsDir, 'client.key');
  const cert = await readPem(certPath, 'client certificate');
  const key = await readPem(keyPath, 'client key');
  const ca = [...rootCertificates];
  if (caFile) ca.push(await readPem(caFile, 'CA bundle'));
  const cn = commonNameOf(cert, certPath);
  return { key, cert, ca, agentId: cn ?? 'UNKNOWN', agentIdFromCertificate: cn !== null };
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new IdentityError(`cannot read the ${what} ${path} (${code})`);
  }
}

/** The first CN attribute of the certificate subject, or null when there is none. */
export function commonNameOf(certPem: string, path = 'certificate'): string | null {
  let subject: string;
  try {
    subject = new X509Certificate(certPem).subject;
  } catch (error) {
    throw new IdentityError(`${path} is not a PEM certificate (${(error as Error).message})`);
  }
  // Node renders the subject one attribute per line, e.g. "C=BR\nO=AutonomyLogic\nCN=07048933".
  for (const line of subject.split('\n')) {
    if (line.startsWith('CN=')) {
      const value = line.slice(3).trim();
      if (value) return value;
    }
  }
  return null;
}

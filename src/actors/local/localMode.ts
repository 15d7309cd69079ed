import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { agentVersion, type Config } from '../../config.js';
import { showDockerHost } from '../../config/parsers.js';
import { LocalEndpoint } from '../../io/local/endpoint.js';
import { removeEndpointFile, writeEndpointFile } from '../../io/local/endpointFile.js';
import { CTL_COMMON_NAME, ensureLocalPki, type LocalPkiLayout } from '../../io/pki/localPki.js';
import type { AgentModule } from '../modules.js';

/**
 * Local mode: the agent's cloud is an endpoint inside its own process. Its private CA and certificates are made
 * (or reused) under `<data-dir>/local`, the endpoint listens on 127.0.0.1, and the agent's ordinary cloud link
 * connects to it with the generated client certificate and CA, exactly as it would to the Autonomy cloud.
 * `endpoint.json` tells ctl where to find it.
 */

export interface PreparedLocalMode {
  layout: LocalPkiLayout;
  endpoint: LocalEndpoint;
  agentId: string;
  /** What the cloud link uses in place of --cloud-url, --mtls-dir and --ca-file. */
  cloud: { readonly url: string; mtlsDir: string; caFile: string };
  /** Started before the cloud link, stopped after it. */
  module: AgentModule;
}

/** A CN from the host name: letters, digits, dots and dashes only, so it reads the same in every tool. */
export function localAgentId(host: string = hostname()): string {
  const name = host.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 48) || 'host';
  return `local-${name}`;
}

export async function prepareLocalMode(config: Config, log: Logger): Promise<PreparedLocalMode> {
  const agentId = localAgentId();
  const pki = await ensureLocalPki(config.dataDir, { agentCommonName: agentId, log });
  const { layout } = pki;
  const endpoint = new LocalEndpoint({
    tls: { key: pki.server.keyPem, cert: pki.server.certPem, ca: pki.ca.certPem },
    agentCommonName: agentId,
    ctlCommonName: CTL_COMMON_NAME,
    log,
    info: () => ({ agent_version: agentVersion(), docker_host: showDockerHost(config.dockerHost) }),
  });
  return {
    layout,
    endpoint,
    agentId,
    cloud: {
      // Read when the link connects, which is after the endpoint has chosen its port.
      get url() {
        return endpoint.url;
      },
      mtlsDir: layout.agentMtlsDir,
      caFile: layout.caFile,
    },
    module: {
      name: 'local-endpoint',
      start: async () => {
        await endpoint.start();
        await writeEndpointFile(layout.endpointFile, {
          url: endpoint.url,
          pid: process.pid,
          agent_id: agentId,
          ca_file: layout.caFile,
          cert_file: join(layout.ctlMtlsDir, 'client.crt'),
          key_file: join(layout.ctlMtlsDir, 'client.key'),
          docker_host: showDockerHost(config.dockerHost),
          started_at: new Date().toISOString(),
        });
        log.info({ step: 'local.endpoint.ready', url: endpoint.url, file: layout.endpointFile }, 'ctl can connect');
      },
      stop: async () => {
        await removeEndpointFile(layout.endpointFile);
        await endpoint.stop();
      },
    },
  };
}

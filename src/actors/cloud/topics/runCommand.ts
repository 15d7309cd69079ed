import type { RunCommandRequest, RunCommandResult } from '../../../io/cloud/topics/index.js';
import { type RuntimeHttpProxy, validateCommand } from '../../../io/runtime-http/proxy.js';
import type { RuntimeReadiness } from '../../vplc/readiness.js';
import type { VplcStatus } from '../../vplc/supervisor.js';

/** How long run_command waits for a running vPLC's API to answer before it sends the request anyway. */
export const READY_WAIT_MS = 15_000;

/**
 * run_command (docs/protocol.md#runtime-http-proxy): only to a vPLC this agent manages, only over its
 * internal network, only to allowed ports (the old agent forwarded to any port of any runtime); refusals are
 * answered before any request is made.
 */
export async function runCommand(
  req: RunCommandRequest,
  status: VplcStatus | undefined,
  internalIpOf: () => string | null,
  proxy: RuntimeHttpProxy,
  allowedPorts: number[],
  signal: AbortSignal,
  readiness?: Pick<RuntimeReadiness, 'isReady' | 'whenReady'>,
): Promise<RunCommandResult> {
  if (!status) return { status: 'error', error: `Device not found: ${req.device_id}` };
  const cmd = {
    method: req.method,
    api: req.api,
    port: req.port ?? null,
    headers: req.headers,
    data: req.data,
    params: req.params,
    files: req.files,
  };
  const check = validateCommand(cmd, allowedPorts);
  if (!check.ok) return { status: 'error', error: check.error };
  // Right after a start the container runs but the runtime's API does not answer yet: wait for it, within a bound.
  const started = Date.now();
  if (readiness && status.phase === 'running' && !readiness.isReady(req.device_id)) {
    await readiness.whenReady(req.device_id, READY_WAIT_MS, signal);
  }
  const internalIp = internalIpOf();
  if (!internalIp) {
    return {
      status: 'error',
      error: `${req.device_id} has no internal network address yet (state: ${status.state}); retry once it is running`,
    };
  }
  const http_response = await proxy.request({ ip: internalIp }, cmd, signal, proxyBudgetMs(proxy, started));
  return { status: http_response.ok ? 'success' : 'error', http_response };
}

/** What is left of the proxy's deadline after waiting for readiness, so the whole request stays within it. */
function proxyBudgetMs(proxy: RuntimeHttpProxy, started: number): number {
  return Math.max(1_000, proxy.timeoutMs - (Date.now() - started));
}

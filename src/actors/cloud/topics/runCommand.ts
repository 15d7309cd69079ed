import type { RunCommandRequest, RunCommandResult } from '../../../io/cloud/topics/index.js';
import { type RuntimeHttpProxy, validateCommand } from '../../../io/runtime-http/proxy.js';
import type { VplcStatus } from '../../vplc/supervisor.js';

/**
 * run_command (docs/protocol.md#runtime-http-proxy): only to a vPLC this agent manages, only over its
 * internal network, only to allowed ports (the old agent forwarded to any port of any runtime); refusals are
 * answered before any request is made.
 */
export async function runCommand(
  req: RunCommandRequest,
  status: VplcStatus | undefined,
  internalIp: string | null,
  proxy: RuntimeHttpProxy,
  allowedPorts: number[],
  signal: AbortSignal,
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
  if (!internalIp) {
    return {
      status: 'error',
      error: `${req.device_id} has no internal network address yet (state: ${status.state}); retry once it is running`,
    };
  }
  const http_response = await proxy.request({ ip: internalIp }, cmd, signal);
  return { status: http_response.ok ? 'success' : 'error', http_response };
}

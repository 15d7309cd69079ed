import type { TopicContext } from '../../../io/cloud/router.js';
import type { ProxiedHttpResponse, RunCommandRequest, RunCommandResult } from '../../../io/cloud/topics/index.js';
import { errorView } from '../../../io/runtime-http/response.js';
import { proxyFailureOf, type RuntimeHttpProxy, validateCommand } from '../../../io/runtime-http/proxy.js';
import { truncate } from '../../../model/echo.js';
import type { RuntimeReadiness } from '../../vplc/readiness.js';
import type { VplcStatus } from '../../vplc/supervisor.js';

/** How long run_command waits for a running vPLC's API to answer before it sends the request anyway. */
export const READY_WAIT_MS = 15_000;

/** Default of --run-command-max-per-vplc: requests in flight to one runtime. */
export const DEFAULT_RUN_COMMAND_MAX_PER_VPLC = 4;
/** Default of --run-command-max-concurrent: requests in flight to all runtimes together. */
export const DEFAULT_RUN_COMMAND_MAX_CONCURRENT = 16;

/**
 * Bounds the run_command requests in flight, per vPLC and in total. Each one holds its upload and up to
 * --run-command-max-bytes of answer in memory until the runtime has answered (or the deadline passed), so without a
 * bound a burst of requests to slow runtimes grows the agent's memory without limit; and a runtime gains nothing
 * from more parallel requests than it serves at once.
 */
export class RunCommandGate {
  private readonly perVplc = new Map<string, number>();
  private total = 0;

  constructor(readonly limits: { perVplc: number; total: number }) {}

  /** A release function when the request may go ahead, else the sentence that refuses it. */
  enter(vplc: string): { release: () => void } | { refusal: string } {
    const mine = this.perVplc.get(vplc) ?? 0;
    if (mine >= this.limits.perVplc) {
      return {
        refusal: `run_command refused: ${truncate(vplc)} already has ${mine} requests to its runtime in flight, the most the agent forwards to one vPLC at a time (--run-command-max-per-vplc); send it again once one has been answered`,
      };
    }
    if (this.total >= this.limits.total) {
      return {
        refusal: `run_command refused: the agent already forwards ${this.total} run_command requests, its limit for all vPLCs together (--run-command-max-concurrent); send it again in a moment`,
      };
    }
    this.perVplc.set(vplc, mine + 1);
    this.total++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.perVplc.get(vplc) ?? 1) - 1;
        if (left === 0) this.perVplc.delete(vplc);
        else this.perVplc.set(vplc, left);
      },
    };
  }

  /** Requests in flight, in total and for one vPLC. */
  inFlight(vplc?: string): number {
    return vplc === undefined ? this.total : (this.perVplc.get(vplc) ?? 0);
  }
}

/**
 * A refusal of a request to a vPLC that exists, in the old agent's shape: an `http_response` whose body carries the
 * reason, because cloud screens show `http_response.body.error`; the top-level `error` says the same.
 */
function refused(statusCode: number, error: string): RunCommandResult {
  return { status: 'error', error, http_response: errorView(statusCode, error) as ProxiedHttpResponse };
}

export interface RunCommandDeps {
  proxy: RuntimeHttpProxy;
  allowedPorts: number[];
  gate: RunCommandGate;
  readiness?: Pick<RuntimeReadiness, 'isReady' | 'whenReady'>;
}

/**
 * run_command (docs/protocol.md#runtime-http-proxy): only to a vPLC this agent manages, only over its
 * internal network, only to allowed ports (the old agent forwarded to any port of any runtime), and only as many at
 * once as the gate allows; refusals are answered before any request is made.
 */
export async function runCommand(
  req: RunCommandRequest,
  status: VplcStatus | undefined,
  internalIpOf: () => string | null,
  deps: RunCommandDeps,
  ctx: Pick<TopicContext, 'signal' | 'transient'>,
): Promise<RunCommandResult> {
  if (!status) return { status: 'error', error: `Device not found: ${truncate(req.device_id)}` };
  const cmd = {
    method: req.method,
    api: req.api,
    port: req.port ?? null,
    headers: req.headers,
    data: req.data,
    params: req.params,
    files: req.files,
  };
  const check = validateCommand(cmd, deps.allowedPorts);
  if (!check.ok) return refused(400, check.error);
  const admission = deps.gate.enter(req.device_id);
  if ('refusal' in admission) {
    // Nothing was sent: a repeat with the same correlation_id must be tried again, not answered with this.
    ctx.transient();
    return refused(429, admission.refusal);
  }
  try {
    // Right after a start the container runs but the runtime's API does not answer yet: wait for it, within a bound.
    const started = Date.now();
    if (deps.readiness && status.phase === 'running' && !deps.readiness.isReady(req.device_id)) {
      await deps.readiness.whenReady(req.device_id, READY_WAIT_MS, ctx.signal);
    }
    const internalIp = internalIpOf();
    if (!internalIp) {
      ctx.transient();
      return refused(
        503,
        `${truncate(req.device_id)} has no internal network address yet (state: ${status.state}); retry once it is running`,
      );
    }
    const http_response = await deps.proxy.request(
      { ip: internalIp },
      cmd,
      ctx.signal,
      proxyBudgetMs(deps.proxy, started),
    );
    if (http_response.ok) return { status: 'success', http_response };
    // The agent's own failures carry their sentence at the top as well; a runtime's own error answer does not.
    const failure = proxyFailureOf(http_response) === undefined ? undefined : errorOf(http_response);
    return failure === undefined
      ? { status: 'error', http_response }
      : { status: 'error', error: failure, http_response };
  } finally {
    admission.release();
  }
}

function errorOf(view: { body: unknown }): string | undefined {
  const body = view.body as { error?: unknown } | null;
  return typeof body?.error === 'string' ? body.error : undefined;
}

/** What is left of the proxy's deadline after waiting for readiness, so the whole request stays within it. */
function proxyBudgetMs(proxy: RuntimeHttpProxy, started: number): number {
  return Math.max(1_000, proxy.timeoutMs - (Date.now() - started));
}

import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { DEFAULT_RUNTIME_PORT, type PreparedRequest, prepareCommand, type RuntimeCommand } from './command.js';
import { errorView, type HttpResponseView, ResponseTooDeep, toResponseView } from './response.js';
import { truncate } from '../../model/echo.js';
import { errorText } from '../../model/errors.js';

export { type CommandCheck, type RuntimeCommand, validateCommand } from './command.js';
export type { HttpResponseView } from './response.js';

export interface RuntimeHttpProxyOptions {
  /** Runtime ports the cloud may reach (default [8443]); 8443 is HTTPS, every other port plain HTTP. */
  allowedPorts?: number[];
  /** Whole-request deadline, redirects included (default 30 s). */
  timeoutMs?: number;
  /** Largest response body accepted (default 10 MiB). */
  maxBytes?: number;
  log: Logger;
}

/** Why a request produced an error envelope instead of the runtime's answer. */
export type ProxyFailure =
  | 'refused'
  | 'unreachable'
  | 'timeout'
  | 'too_large'
  | 'too_deep'
  | 'redirect_loop'
  | 'cancelled'
  | 'failed';

const HTTPS_PORT = 8443;
const MAX_REDIRECTS = 5;

// Marks error envelopes without adding keys to what goes to the cloud.
const failures = new WeakMap<HttpResponseView, ProxyFailure>();

/** The reason behind an error envelope from `RuntimeHttpProxy.request`, or undefined for a real runtime answer. */
export function proxyFailureOf(view: HttpResponseView): ProxyFailure | undefined {
  return failures.get(view);
}

function failure(kind: ProxyFailure, statusCode: number, error: string): HttpResponseView {
  const view = errorView(statusCode, error);
  failures.set(view, kind);
  return view;
}

class ResponseTooLarge extends Error {}

/** The runtime kept redirecting within itself past MAX_REDIRECTS. */
class RedirectLoop extends Error {
  constructor(readonly location: string) {
    super(`redirected more than ${MAX_REDIRECTS} times`);
  }
}

interface RawResponse {
  statusCode: number;
  rawHeaders: string[];
  location: string | undefined;
  body: Buffer;
}

const describeLimit = (bytes: number): string =>
  bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;

/**
 * `run_command`'s hop from the agent to a runtime's REST API (docs/protocol.md#runtime-http-proxy), with what the old
 * agent lacked: non-blocking, a deadline, a response size cap, an allowed-port list, a validated path, honest body
 * mapping, and always an answer. It never throws: refusals and failures come back in the old agent's error envelope.
 */
export class RuntimeHttpProxy {
  private readonly allowedPorts: number[];
  readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly log: Logger;
  // Runtimes serve 8443 with a self-signed certificate made at their first start, so there is nothing to verify
  // against. This agent is used for that internal-bridge hop only; the cloud link verifies its server as usual.
  private readonly tlsAgent = new https.Agent({ rejectUnauthorized: false, keepAlive: false });
  private readonly plainAgent = new http.Agent({ keepAlive: false });

  constructor(opts: RuntimeHttpProxyOptions) {
    this.allowedPorts = opts.allowedPorts ?? [DEFAULT_RUNTIME_PORT];
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.log = opts.log;
  }

  /** `timeoutMs` shortens the deadline for this request (a caller that already waited part of its budget). */
  async request(
    target: { ip: string },
    cmd: RuntimeCommand,
    signal?: AbortSignal,
    timeoutMs: number = this.timeoutMs,
  ): Promise<HttpResponseView> {
    const prepared = prepareCommand(cmd, this.allowedPorts);
    if (!prepared.ok) {
      this.log.warn({ step: 'runtime_http.refused', reason: prepared.error }, 'refused run_command request');
      return failure('refused', 400, prepared.error);
    }
    const req = prepared.request;
    const ip = typeof target?.ip === 'string' ? target.ip.trim() : '';
    if (isIP(ip) === 0) {
      return failure(
        'unreachable',
        502,
        `The runtime has no known internal address (got ${JSON.stringify(target?.ip ?? null)}); check that the vPLC exists and is running.`,
      );
    }

    const started = Date.now();
    const budgetMs = Math.max(1, Math.min(timeoutMs, this.timeoutMs));
    const deadline = AbortSignal.timeout(budgetMs);
    const combined = signal ? AbortSignal.any([deadline, signal]) : deadline;
    const where = `${req.method} ${req.path} on the runtime at ${ip}:${req.port}`;
    const logFields = { ip, method: req.method, api: req.path, port: req.port };
    try {
      const res = await this.follow(ip, req, combined);
      const view = toResponseView(res.statusCode, res.rawHeaders, res.body);
      // Reads (status polls every few seconds) only in the debug log; changes in the normal one.
      const level = req.method === 'GET' || req.method === 'HEAD' ? 'debug' : 'info';
      this.log[level](
        {
          step: 'runtime_http.done',
          ...logFields,
          status: res.statusCode,
          bytes: res.body.length,
          duration_ms: Date.now() - started,
        },
        'runtime answered',
      );
      return view;
    } catch (err) {
      const duration_ms = Date.now() - started;
      let view: HttpResponseView;
      if (err instanceof ResponseTooDeep) {
        view = failure(
          'too_deep',
          502,
          `The response to ${where} is JSON nested more than ${err.limit} levels deep, which the agent does not forward; ask the runtime for a flatter answer.`,
        );
      } else if (err instanceof RedirectLoop) {
        view = failure(
          'redirect_loop',
          502,
          `${where} redirected more than ${MAX_REDIRECTS} times within the runtime (last to ${truncate(err.location)}); the agent stopped following. Check the runtime's configuration or ask for the final address directly.`,
        );
      } else if (err instanceof ResponseTooLarge) {
        view = failure(
          'too_large',
          502,
          `The response to ${where} is larger than the ${describeLimit(this.maxBytes)} limit; request less data (for example a smaller range or page).`,
        );
      } else if (deadline.aborted) {
        view = failure(
          'timeout',
          504,
          `${where} did not answer within ${Math.round(budgetMs / 100) / 10} s; check that the vPLC is running and not overloaded.`,
        );
      } else if (signal?.aborted) {
        view = failure(
          'cancelled',
          503,
          `${where} was cancelled before the runtime answered (the agent is stopping or the vPLC is being removed).`,
        );
      } else {
        const code = (err as NodeJS.ErrnoException)?.code;
        const unreachable = [
          'ECONNREFUSED',
          'ECONNRESET',
          'EHOSTUNREACH',
          'ENETUNREACH',
          'EPIPE',
          'ETIMEDOUT',
        ].includes(code ?? '');
        const reason = errorText(err);
        view = unreachable
          ? failure('unreachable', 502, `Could not reach ${where} (${reason}); check that the vPLC is running.`)
          : failure('failed', 500, `${where} failed: ${reason}.`);
      }
      this.log.warn(
        {
          step: 'runtime_http.failed',
          ...logFields,
          failure: proxyFailureOf(view),
          duration_ms,
          err: (err as Error)?.message,
        },
        'runtime request failed',
      );
      return view;
    }
  }

  /**
   * Whether the runtime's API answers: `GET /api/version` (which needs no login) gets any HTTP response within
   * `timeoutMs`. Quiet on purpose: it is polled while a runtime starts.
   */
  async probe(target: { ip: string }, opts: { port?: number; timeoutMs?: number; signal?: AbortSignal } = {}) {
    const port = opts.port ?? DEFAULT_RUNTIME_PORT;
    const prepared = prepareCommand({ method: 'GET', api: '/api/version', port }, [port]);
    if (!prepared.ok || isIP(target.ip) === 0) return false;
    const deadline = AbortSignal.timeout(opts.timeoutMs ?? 2_000);
    const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
    try {
      await this.send(target.ip, prepared.request, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Releases idle sockets; requests in flight finish or time out on their own. */
  close(): void {
    this.tlsAgent.destroy();
    this.plainAgent.destroy();
  }

  /**
   * Follows redirects the way the old agent's HTTP library does, but only back to the same runtime and an allowed
   * port: a redirect elsewhere is returned as it is (status 3xx with its Location) instead of being followed.
   */
  private async follow(ip: string, first: PreparedRequest, signal: AbortSignal): Promise<RawResponse> {
    let req = first;
    for (let hop = 0; ; hop++) {
      const res = await this.send(ip, req, signal);
      if (![301, 302, 303, 307, 308].includes(res.statusCode) || res.location === undefined) return res;
      const current = new URL(
        `${req.port === HTTPS_PORT ? 'https' : 'http'}://${hostOf(ip)}:${req.port}${req.pathAndQuery}`,
      );
      let next: URL;
      try {
        next = new URL(res.location, current);
      } catch {
        return res;
      }
      const port = Number(next.port || (next.protocol === 'https:' ? 443 : 80));
      const expectedScheme = port === HTTPS_PORT ? 'https:' : 'http:';
      if (next.hostname !== current.hostname || !this.allowedPorts.includes(port) || next.protocol !== expectedScheme) {
        this.log.warn(
          { step: 'runtime_http.redirect_not_followed', ip, api: req.path, status: res.statusCode },
          'runtime redirected outside itself; returning the redirect unfollowed',
        );
        return res;
      }
      if (hop >= MAX_REDIRECTS) throw new RedirectLoop(res.location);
      // 303, and 301/302 after anything but GET/HEAD, turn into a body-less GET (browsers and `requests` agree).
      const toGet =
        res.statusCode === 303 ? req.method !== 'HEAD' : [301, 302].includes(res.statusCode) && req.method !== 'HEAD';
      const headers = { ...req.headers };
      if (toGet) {
        for (const key of Object.keys(headers)) if (key.toLowerCase() === 'content-type') delete headers[key];
      }
      req = {
        method: toGet ? 'GET' : req.method,
        path: next.pathname,
        pathAndQuery: `${next.pathname}${next.search}`,
        port,
        headers,
        body: toGet ? undefined : req.body,
      };
    }
  }

  private send(ip: string, req: PreparedRequest, signal: AbortSignal): Promise<RawResponse> {
    const secure = req.port === HTTPS_PORT;
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers['Content-Length'] = String(req.body.length);
    const options: https.RequestOptions = {
      host: ip,
      port: req.port,
      method: req.method,
      path: req.pathAndQuery,
      headers,
      agent: secure ? this.tlsAgent : this.plainAgent,
      signal,
    };
    return new Promise<RawResponse>((resolve, reject) => {
      const onResponse = (res: IncomingMessage): void => {
        // A HEAD answer declares the length of a body it does not send.
        const declared = req.method === 'HEAD' ? 0 : Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > this.maxBytes) {
          res.destroy();
          reject(new ResponseTooLarge());
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxBytes) {
            res.destroy();
            reject(new ResponseTooLarge());
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({
            statusCode: res.statusCode ?? 0,
            rawHeaders: res.rawHeaders,
            location: typeof res.headers.location === 'string' ? res.headers.location : undefined,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(new Error('the runtime closed the connection mid-response'));
        });
      };
      const outgoing = secure ? https.request(options, onResponse) : http.request(options, onResponse);
      outgoing.on('error', reject);
      outgoing.end(req.body);
    });
  }
}

function hostOf(ip: string): string {
  return isIP(ip) === 6 ? `[${ip}]` : ip;
}

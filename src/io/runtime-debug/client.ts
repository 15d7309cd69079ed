/**
 * A debug connection to one OpenPLC runtime (docs/protocol.md#runtime-debug-protocol): the runtime's own login
 * (`POST /api/login`, through the run_command proxy, so the same port list and TLS rules apply), then its Flask-SocketIO
 * namespace `/api/debug` over HTTP long-polling (the runtime refuses upgrades), authenticated with the JWT.
 *
 * Where the old agent went wrong, this one does not (docs/decisions.md#remote-debugging):
 * - one command at a time, and a reply is taken only when its function code is the request's; a reply that arrives
 *   after its command timed out is discarded instead of being handed to the next command;
 * - login and the namespace use the same scheme (https on 8443, http elsewhere);
 * - a runtime that says the token expired (`Unauthorized`, `token_expired`) gets one fresh login and the command once
 *   more.
 * Credentials are kept in memory for that re-login only and never logged.
 */
import type { Logger } from 'pino';
import { io, type Socket } from 'socket.io-client';
import { errorText } from '../../model/errors.js';
import { truncate } from '../../model/echo.js';
import type { RuntimeHttpProxy } from '../runtime-http/proxy.js';
import { functionOf, MAX_REPLY_HEX_CHARS } from './protocol.js';

export const DEBUG_NAMESPACE = '/api/debug';
export const LOGIN_PATH = '/api/login';
/** How long the runtime has to confirm the namespace connection (the old agent's 10 s). */
export const CONNECT_TIMEOUT_MS = 10_000;
/** How long one command waits for its reply (the old agent's 5 s). */
export const COMMAND_TIMEOUT_MS = 5_000;
/** The most commands waiting behind the one in flight; more are refused rather than queued without bound. */
export const MAX_QUEUED_COMMANDS = 32;
const HTTPS_PORT = 8443;

export class RuntimeDebugError extends Error {
  constructor(
    message: string,
    readonly kind: 'login' | 'connect' | 'timeout' | 'runtime' | 'closed' | 'busy',
  ) {
    super(message);
    this.name = 'RuntimeDebugError';
  }
}

export interface RuntimeDebugTarget {
  /** The vPLC's name, for sentences and logs. */
  vplc: string;
  ip: string;
  port: number;
}

export interface RuntimeDebugCredentials {
  username: string;
  password: string;
}

export interface RuntimeDebugOptions {
  proxy: Pick<RuntimeHttpProxy, 'request'>;
  log: Logger;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  signal?: AbortSignal;
}

interface Pending {
  hex: string;
  resolve: (hex: string) => void;
  reject: (err: Error) => void;
}

/** Replies the runtime gives when the JWT it holds is no longer valid (newer runtimes check it per command). */
const EXPIRED = new Set(['Unauthorized', 'token_expired']);

export class RuntimeDebugClient {
  private socket: Socket | null = null;
  private closed = false;
  private readonly queue: Pending[] = [];
  private busy = false;
  private readonly closeListeners = new Set<(why: string) => void>();
  private readonly endListeners = new Set<() => void>();
  private readonly connectTimeoutMs: number;
  private readonly commandTimeoutMs: number;

  private constructor(
    readonly target: RuntimeDebugTarget,
    private readonly credentials: RuntimeDebugCredentials,
    private readonly opts: RuntimeDebugOptions,
  ) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
  }

  /** Logs in and opens the debug namespace; rejects with a RuntimeDebugError that says what failed. */
  static async connect(
    target: RuntimeDebugTarget,
    credentials: RuntimeDebugCredentials,
    opts: RuntimeDebugOptions,
  ): Promise<RuntimeDebugClient> {
    const client = new RuntimeDebugClient(target, credentials, opts);
    await client.open();
    return client;
  }

  get isOpen(): boolean {
    return !this.closed && this.socket?.connected === true;
  }

  /** Called once when the connection ends for any reason other than close(). */
  onClosed(listener: (why: string) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Sends one hex command and resolves with the runtime's reply data (hex). Commands run one at a time. */
  command(hex: string): Promise<string> {
    if (this.closed) return Promise.reject(this.notConnected());
    if (this.queue.length >= MAX_QUEUED_COMMANDS) {
      return Promise.reject(
        new RuntimeDebugError(
          `${MAX_QUEUED_COMMANDS} debug commands are already waiting for ${this.target.vplc}'s runtime; send more once they are answered`,
          'busy',
        ),
      );
    }
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ hex, resolve, reject });
      this.pump();
    });
  }

  /** Called once when the connection ends, by close() or because it was lost. */
  onEnded(listener: () => void): void {
    this.endListeners.add(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.endListeners) listener();
    this.endListeners.clear();
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = null;
    for (const p of this.queue.splice(0)) p.reject(this.notConnected());
    this.opts.log.info({ step: 'runtime_debug.closed', vplc: this.target.vplc }, 'runtime debug connection closed');
  }

  private notConnected(): RuntimeDebugError {
    return new RuntimeDebugError(
      `The debug connection to ${this.target.vplc}'s runtime is closed; send debug_start again`,
      'closed',
    );
  }

  private async open(): Promise<void> {
    const log = this.opts.log;
    const where = { vplc: this.target.vplc, ip: this.target.ip, port: this.target.port };
    log.info({ step: 'runtime_debug.login', ...where }, 'logging in to the runtime');
    const token = await this.login();
    log.info({ step: 'runtime_debug.connect', ...where }, 'opening the runtime debug namespace');
    this.socket = await this.openNamespace(token);
    log.info({ step: 'runtime_debug.connected', ...where }, 'runtime debug namespace connected');
  }

  private async login(): Promise<string> {
    const { vplc, ip, port } = this.target;
    const view = await this.opts.proxy.request(
      { ip },
      {
        method: 'POST',
        api: LOGIN_PATH,
        port,
        data: { username: this.credentials.username, password: this.credentials.password },
      },
      this.opts.signal,
    );
    if (view.status_code !== 200) {
      const body = view.body as { error?: unknown } | null;
      // The proxy's own failures (unreachable, timeout) carry their sentence in body.error.
      const detail = typeof body?.error === 'string' ? `: ${truncate(body.error)}` : '';
      const hint = view.status_code === 401 ? ' (wrong username or password for the runtime)' : '';
      throw new RuntimeDebugError(
        `Authentication failed: HTTP ${view.status_code}${hint} from ${vplc}'s runtime${detail}`,
        'login',
      );
    }
    const token = (view.body as { access_token?: unknown } | null)?.access_token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
      throw new RuntimeDebugError(
        `No access_token in login response from ${vplc}'s runtime; is it an OpenPLC v4 runtime?`,
        'login',
      );
    }
    return token;
  }

  private openNamespace(token: string): Promise<Socket> {
    const { vplc, ip, port } = this.target;
    const scheme = port === HTTPS_PORT ? 'https' : 'http';
    const host = ip.includes(':') ? `[${ip}]` : ip;
    const socket = io(`${scheme}://${host}:${port}${DEBUG_NAMESPACE}`, {
      // The runtime serves long-polling only (allow_upgrades=False).
      transports: ['polling'],
      upgrade: false,
      auth: { token },
      // Runtimes serve 8443 with a certificate they made themselves at first start: nothing to verify it against.
      rejectUnauthorized: false,
      reconnection: false,
      forceNew: true,
      timeout: this.connectTimeoutMs,
    });
    return new Promise<Socket>((resolve, reject) => {
      const fail = (message: string, kind: 'connect' | 'timeout') => {
        clearTimeout(timer);
        this.opts.signal?.removeEventListener('abort', aborted);
        socket.removeAllListeners();
        socket.disconnect();
        reject(new RuntimeDebugError(message, kind));
      };
      const timer = setTimeout(
        () =>
          fail(
            `Runtime did not send 'connected' confirmation within ${this.connectTimeoutMs / 1000}s (${vplc}, ${DEBUG_NAMESPACE})`,
            'timeout',
          ),
        this.connectTimeoutMs,
      );
      const aborted = () => fail(`Opening the debug connection to ${vplc}'s runtime was cancelled`, 'connect');
      this.opts.signal?.addEventListener('abort', aborted, { once: true });
      socket.on('connect_error', (err) =>
        fail(
          `${vplc}'s runtime refused its debug namespace ${DEBUG_NAMESPACE}: ${truncate(errorText(err))}; check the credentials and that the runtime is an OpenPLC v4 runtime`,
          'connect',
        ),
      );
      socket.once('connected', () => {
        clearTimeout(timer);
        this.opts.signal?.removeEventListener('abort', aborted);
        socket.off('connect_error');
        socket.on('disconnect', (reason) => this.lost(`the runtime closed the debug connection (${reason})`));
        socket.on('debug_response', (payload: unknown) => this.onResponse(payload));
        resolve(socket);
      });
    });
  }

  private lost(why: string): void {
    if (this.closed) return;
    this.opts.log.warn({ step: 'runtime_debug.lost', vplc: this.target.vplc, why }, 'runtime debug connection lost');
    this.close();
    for (const listener of this.closeListeners) listener(why);
  }

  // What waits for a reply: the command in flight, and how many replies of timed-out commands are still due.
  private waiting: { fc: number | null; settle: (payload: unknown) => void } | null = null;
  private lateReplies = 0;

  private onResponse(payload: unknown): void {
    if (this.lateReplies > 0) {
      this.lateReplies--;
      this.opts.log.debug({ vplc: this.target.vplc }, 'late debug reply of a timed-out command discarded');
      return;
    }
    const waiting = this.waiting;
    if (!waiting) {
      this.opts.log.debug({ vplc: this.target.vplc }, 'unasked debug reply discarded');
      return;
    }
    waiting.settle(payload);
  }

  private pump(): void {
    if (this.busy || this.closed) return;
    const next = this.queue.shift();
    if (!next) return;
    this.busy = true;
    this.run(next.hex, true)
      .then(next.resolve, next.reject)
      .finally(() => {
        this.busy = false;
        this.pump();
      });
  }

  private async run(hex: string, mayRelogin: boolean): Promise<string> {
    const reply = await this.exchange(hex);
    if (reply.success) return reply.data;
    if (mayRelogin && EXPIRED.has(reply.error)) {
      this.opts.log.info(
        { step: 'runtime_debug.relogin', vplc: this.target.vplc },
        'runtime token expired; logging in again',
      );
      const token = await this.login();
      this.socket?.removeAllListeners();
      this.socket?.disconnect();
      this.socket = await this.openNamespace(token);
      return this.run(hex, false);
    }
    throw new RuntimeDebugError(reply.error, 'runtime');
  }

  private exchange(hex: string): Promise<{ success: true; data: string } | { success: false; error: string }> {
    const socket = this.socket;
    if (!socket || this.closed) return Promise.reject(this.notConnected());
    const fc = functionOf(hex);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        // Its reply may still come: it belongs to this command, not to the next one.
        this.lateReplies++;
        reject(
          new RuntimeDebugError(
            `Timeout: No debug_response received within ${this.commandTimeoutMs / 1000}s for command: ${truncate(hex, 64)}`,
            'timeout',
          ),
        );
      }, this.commandTimeoutMs);
      this.waiting = {
        fc,
        settle: (payload) => {
          const reply = readReply(payload);
          if (reply.success && fc !== null && functionOf(reply.data) !== fc && reply.data.trim() !== '') {
            // Not this command's answer (a reply the runtime sent for something else): keep waiting for ours.
            this.opts.log.debug({ vplc: this.target.vplc }, 'debug reply for another function discarded');
            return;
          }
          clearTimeout(timer);
          this.waiting = null;
          resolve(reply);
        },
      };
      socket.emit('debug_command', { command: hex });
    });
  }
}

function readReply(payload: unknown): { success: true; data: string } | { success: false; error: string } {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
  if (p.success === true) {
    if (typeof p.data !== 'string') return { success: false, error: 'The runtime sent a debug reply without data' };
    if (p.data.length > MAX_REPLY_HEX_CHARS) {
      return { success: false, error: `The runtime sent a debug reply longer than ${MAX_REPLY_HEX_CHARS} characters` };
    }
    // The runtime's own core errors arrive as success with data "ERROR..." (its DEBUG:ERROR branch is unreachable).
    if (/^\s*ERROR/i.test(p.data)) return { success: false, error: `The PLC core answered: ${truncate(p.data)}` };
    return { success: true, data: p.data };
  }
  const error = typeof p.error === 'string' && p.error.trim() !== '' ? truncate(p.error) : 'Unknown runtime error';
  return { success: false, error };
}

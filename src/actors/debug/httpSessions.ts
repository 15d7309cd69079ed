/**
 * Debug sessions driven by plain `run_command` requests with `api: "debug"` (docs/protocol.md#run-command-debug):
 * the cloud's fallback when WebRTC cannot connect. A session is one runtime debug connection, opened by
 * `debug_start`, used by the commands, ended by `debug_stop`, by 300 s without a command, or when its vPLC stops or
 * is deleted.
 *
 * Sessions are keyed by vPLC and by the optional `session_id` of the debug message: without one, every caller shares
 * the vPLC's session, as with the old agent; with one, a caller's `debug_start` or `debug_stop` never ends another's.
 */
import type { Logger } from 'pino';
import type { RuntimeDebugClient } from '../../io/runtime-debug/client.js';
import type { DebugReply } from '../../model/debugMessages.js';
import { echo, truncate } from '../../model/echo.js';
import { errorText } from '../../model/errors.js';
import { debugError, isCommandType, runDebugCommand, startParameters } from './commands.js';
import type { RuntimeLinks } from './runtimeLinks.js';

/** How long a session may go without a command (the old agent's 300 s). */
export const DEBUG_IDLE_TIMEOUT_MS = 300_000;
const MAX_SESSION_ID_CHARS = 128;

interface Session {
  vplc: string;
  key: string;
  client: RuntimeDebugClient;
  idle: ReturnType<typeof setTimeout>;
}

export interface HttpDebugSessionsOptions {
  links: RuntimeLinks;
  allowedPorts: readonly number[];
  log: Logger;
  idleTimeoutMs?: number;
}

export class HttpDebugSessions {
  private readonly sessions = new Map<string, Session>();
  /** The newest debug_start per key: an older one that finishes later closes what it opened. */
  private readonly starts = new Map<string, number>();
  private generation = 0;
  private readonly idleMs: number;

  constructor(private readonly opts: HttpDebugSessionsOptions) {
    this.idleMs = opts.idleTimeoutMs ?? DEBUG_IDLE_TIMEOUT_MS;
  }

  count(vplc?: string): number {
    if (vplc === undefined) return this.sessions.size;
    let n = 0;
    for (const s of this.sessions.values()) if (s.vplc === vplc) n++;
    return n;
  }

  /** Answers one debug message for `vplc` (which the caller checked exists). Never rejects. */
  async handle(vplc: string, msg: Record<string, unknown>, signal?: AbortSignal): Promise<DebugReply> {
    const sid = msg.session_id;
    if (sid !== undefined && sid !== null && (typeof sid !== 'string' || sid.length > MAX_SESSION_ID_CHARS)) {
      return debugError(
        `session_id must be a string of at most ${MAX_SESSION_ID_CHARS} characters, got ${echo(sid, 64)}`,
      );
    }
    const key = `${vplc}\u0000${typeof sid === 'string' ? sid : ''}`;
    const type = msg.type;
    try {
      if (type === 'debug_start')
        return await this.start(vplc, key, msg, typeof sid === 'string' ? sid : undefined, signal);
      if (type === 'debug_stop') {
        this.end(key, 'debug_stop');
        return { type: 'debug_disconnected' };
      }
      if (isCommandType(type)) {
        const session = this.sessions.get(key);
        if (!session?.client.isOpen) {
          if (session) this.end(key, 'connection lost');
          return debugError('No active debug session. Send debug_start first.');
        }
        this.touch(session);
        return await runDebugCommand(type, msg, (hex) => session.client.command(hex));
      }
      return debugError(`Unknown debug message type: ${typeof type === 'string' ? truncate(type) : ''}`);
    } catch (err) {
      return debugError(errorText(err));
    }
  }

  private async start(
    vplc: string,
    key: string,
    msg: Record<string, unknown>,
    sessionId: string | undefined,
    signal?: AbortSignal,
  ): Promise<DebugReply> {
    const params = startParameters(msg, this.opts.allowedPorts);
    if ('error' in params) return debugError(params.error);
    // A new debug_start replaces the session it names (the old agent's rule).
    this.end(key, 'replaced by a new debug_start');
    const mine = ++this.generation;
    this.starts.set(key, mine);
    const client = await this.opts.links.connect(vplc, params.port, params, signal);
    if (this.starts.get(key) !== mine) {
      client.close();
      return debugError(`A later debug_start for ${truncate(vplc)} replaced this one`);
    }
    this.starts.delete(key);
    const session: Session = { vplc, key, client, idle: this.idleTimer(key) };
    this.sessions.set(key, session);
    client.onClosed((why) => {
      if (this.sessions.get(key) === session) this.end(key, why);
    });
    this.opts.log.info({ step: 'debug_session.started', vplc, port: params.port }, 'run_command debug session started');
    return sessionId === undefined ? { type: 'debug_connected' } : { type: 'debug_connected', session_id: sessionId };
  }

  private idleTimer(key: string): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => this.end(key, `no debug command for ${this.idleMs / 1000} s`), this.idleMs);
    timer.unref?.();
    return timer;
  }

  private touch(session: Session): void {
    clearTimeout(session.idle);
    session.idle = this.idleTimer(session.key);
  }

  private end(key: string, why: string): void {
    const session = this.sessions.get(key);
    if (!session) return;
    this.sessions.delete(key);
    clearTimeout(session.idle);
    session.client.close();
    this.opts.log.info({ step: 'debug_session.ended', vplc: session.vplc, why }, 'run_command debug session ended');
  }

  /** The vPLC stopped or was deleted: its sessions end with it. */
  endFor(vplc: string, why: string): void {
    for (const [key, s] of [...this.sessions]) if (s.vplc === vplc) this.end(key, why);
    for (const key of [...this.starts.keys()]) if (key.startsWith(`${vplc}\u0000`)) this.starts.delete(key);
  }

  stop(): void {
    for (const key of [...this.sessions.keys()]) this.end(key, 'the agent is stopping');
    this.starts.clear();
  }
}

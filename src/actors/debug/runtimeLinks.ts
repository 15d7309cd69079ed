/**
 * Opens debug connections to runtimes and counts them: at most `perVplc` to one vPLC and `total` in all, shared by
 * the run_command debug sessions and the WebRTC debug channels, because each one holds a long-polling connection to
 * a runtime and the runtime's core serves one command at a time anyway.
 */
import type { Logger } from 'pino';
import type { RuntimeHttpProxy } from '../../io/runtime-http/proxy.js';
import {
  RuntimeDebugClient,
  type RuntimeDebugCredentials,
  RuntimeDebugError,
  type RuntimeDebugOptions,
} from '../../io/runtime-debug/client.js';
import { truncate } from '../../model/echo.js';

/** The login's own deadline: the namespace wait (10 s) comes after it, and both fit in run_command's 35 s. */
export const LOGIN_TIMEOUT_MS = 10_000;

export interface RuntimeLinksOptions {
  proxy: Pick<RuntimeHttpProxy, 'request'>;
  /** The vPLC's address on its internal network, null when it has none (not running). */
  internalIp: (vplc: string) => string | null;
  limits: { perVplc: number; total: number };
  log: Logger;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

export class RuntimeLinks {
  private readonly open = new Map<string, Set<RuntimeDebugClient>>();
  private pending = new Map<string, number>();

  constructor(private readonly opts: RuntimeLinksOptions) {}

  count(vplc?: string): number {
    if (vplc !== undefined) return (this.open.get(vplc)?.size ?? 0) + (this.pending.get(vplc) ?? 0);
    let n = 0;
    for (const [name] of new Set([...this.open.keys(), ...this.pending.keys()])) n += this.count(name);
    return n;
  }

  /** Opens a connection, or rejects with a RuntimeDebugError that says why not. */
  async connect(
    vplc: string,
    port: number,
    credentials: RuntimeDebugCredentials,
    signal?: AbortSignal,
  ): Promise<RuntimeDebugClient> {
    const ip = this.opts.internalIp(vplc);
    if (!ip) {
      throw new RuntimeDebugError(
        `${truncate(vplc)} has no internal network address (is it running?); start it and send debug_start again`,
        'connect',
      );
    }
    const { perVplc, total } = this.opts.limits;
    if (this.count(vplc) >= perVplc) {
      throw new RuntimeDebugError(
        `${truncate(vplc)} already has ${perVplc} debug connections to its runtime, the most the agent opens to one vPLC (--debug-max-sessions-per-vplc); stop one (debug_stop or webrtc:disconnect) first`,
        'busy',
      );
    }
    if (this.count() >= total) {
      throw new RuntimeDebugError(
        `The agent already holds ${total} debug connections to runtimes, its limit for the host (--debug-max-sessions-per-host); stop one first`,
        'busy',
      );
    }
    this.pending.set(vplc, (this.pending.get(vplc) ?? 0) + 1);
    try {
      const options: RuntimeDebugOptions = {
        proxy: {
          request: (target, cmd, s) => this.opts.proxy.request(target, cmd, s, LOGIN_TIMEOUT_MS),
        },
        log: this.opts.log.child({ vplc }),
        signal,
        ...(this.opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.opts.connectTimeoutMs } : {}),
        ...(this.opts.commandTimeoutMs !== undefined ? { commandTimeoutMs: this.opts.commandTimeoutMs } : {}),
      };
      const client = await RuntimeDebugClient.connect({ vplc, ip, port }, credentials, options);
      const set = this.open.get(vplc) ?? new Set();
      set.add(client);
      this.open.set(vplc, set);
      const forget = () => {
        set.delete(client);
        if (set.size === 0 && this.open.get(vplc) === set) this.open.delete(vplc);
      };
      client.onEnded(forget);
      return client;
    } finally {
      const left = (this.pending.get(vplc) ?? 1) - 1;
      if (left <= 0) this.pending.delete(vplc);
      else this.pending.set(vplc, left);
    }
  }

  /** Closes every connection to one vPLC's runtime (it stopped or was deleted). */
  closeAll(vplc: string): void {
    for (const client of [...(this.open.get(vplc) ?? [])]) client.close();
  }

  stop(): void {
    for (const name of [...this.open.keys()]) this.closeAll(name);
  }
}

/**
 * Remote debugging of vPLCs as one capability (docs/protocol.md#remote-debugging): the runtime debug connections
 * (counted per vPLC and per host), the run_command debug sessions, and the WebRTC sessions. It follows the
 * supervisor: a vPLC that stops or is deleted ends its sessions and connections.
 */
import type { Logger } from 'pino';
import type { RuntimeHttpProxy } from '../../io/runtime-http/proxy.js';
import type { IceServer } from '../../io/webrtc/peer.js';
import type { VplcStatus } from '../vplc/supervisor.js';
import type { RunCommandOnChannel } from './channels.js';
import { HttpDebugSessions } from './httpSessions.js';
import { RuntimeLinks } from './runtimeLinks.js';
import { WebrtcSessions } from './webrtcSessions.js';

/** How long an answer waits for the agent's candidates before later ones are sent as webrtc:ice events. */
export const GATHER_TIMEOUT_MS = 3_000;

export interface RemoteDebugOptions {
  proxy: Pick<RuntimeHttpProxy, 'request'>;
  status: (vplc: string) => VplcStatus | undefined;
  internalIp: (vplc: string) => string | null;
  allowedPorts: readonly number[];
  limits: { perVplc: number; total: number };
  iceServers: readonly string[];
  hostAddresses: readonly string[] | null;
  maxTransferChars: number;
  runCommand: RunCommandOnChannel;
  log: Logger;
}

export class RemoteDebug {
  readonly links: RuntimeLinks;
  readonly http: HttpDebugSessions;
  readonly webrtc: WebrtcSessions;

  constructor(opts: RemoteDebugOptions) {
    this.links = new RuntimeLinks({
      proxy: opts.proxy,
      internalIp: opts.internalIp,
      limits: opts.limits,
      log: opts.log.child({ part: 'runtime-debug' }),
    });
    this.http = new HttpDebugSessions({
      links: this.links,
      allowedPorts: opts.allowedPorts,
      log: opts.log.child({ part: 'run-command-debug' }),
    });
    const servers: IceServer[] = opts.iceServers.map((urls) => ({ urls }));
    this.webrtc = new WebrtcSessions({
      peer: {
        iceServers: servers,
        hostAddresses: opts.hostAddresses ? [...opts.hostAddresses] : null,
        gatherTimeoutMs: GATHER_TIMEOUT_MS,
      },
      limits: opts.limits,
      status: opts.status,
      runCommand: opts.runCommand,
      links: this.links,
      allowedPorts: opts.allowedPorts,
      maxTransferChars: opts.maxTransferChars,
      log: opts.log.child({ part: 'webrtc' }),
    });
  }

  /** Fed with every vPLC change: sessions end with their vPLC's runtime. */
  observe(status: VplcStatus): void {
    if (status.phase === 'running') return;
    const why = status.phase === 'deleting' || status.phase === 'deleted' ? 'its vPLC was deleted' : 'its vPLC stopped';
    this.webrtc.observe(status);
    this.http.endFor(status.name, why);
    this.links.closeAll(status.name);
  }

  async stop(): Promise<void> {
    await this.webrtc.stop();
    this.http.stop();
    this.links.stop();
  }
}

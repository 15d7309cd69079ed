import type { Logger } from 'pino';
import { channelRunCommand } from '../../src/actors/debug/channelRouter.js';
import { RemoteDebug } from '../../src/actors/debug/index.js';
import type { Supervisor } from '../../src/actors/vplc/supervisor.js';
import type { TopicRouter } from '../../src/io/cloud/router.js';
import type { RuntimeHttpProxy } from '../../src/io/runtime-http/proxy.js';

/**
 * The agent's remote-debug capability for tests that build the topic handlers themselves: real sessions over the
 * given proxy, host candidates on loopback only, data-channel run_command through `router()` (resolved when used).
 */
export function remoteDebugFor(opts: {
  supervisor: Pick<Supervisor, 'status'>;
  proxy: RuntimeHttpProxy;
  ports: number[];
  internalIp: (vplc: string) => string | null;
  router: () => TopicRouter;
  log: Logger;
  limits?: { perVplc: number; total: number };
}): RemoteDebug {
  return new RemoteDebug({
    proxy: opts.proxy,
    status: (name) => opts.supervisor.status(name),
    internalIp: opts.internalIp,
    allowedPorts: opts.ports,
    limits: opts.limits ?? { perVplc: 4, total: 16 },
    iceServers: [],
    hostAddresses: ['127.0.0.1'],
    maxTransferChars: 36 * 1024 * 1024,
    runCommand: (payload) => channelRunCommand(opts.router(), payload),
    log: opts.log,
  });
}

import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { Config } from '../../config.js';
import type { Listening } from '../../io/http/listen.js';
import { serveInspector } from '../../io/inspector/server.js';
import type { AgentModule } from '../modules.js';
import type { Supervisor } from '../vplc/supervisor.js';
import { InspectorHub, type LinkName } from './hub.js';
import { summarize } from './summary.js';
import { displayUrl } from '../../model/urls.js';

interface InspectableLink {
  actorRef(): import('xstate').AnyActorRef;
  inspect(observer: (event: InspectionEvent) => void): () => void;
}

/**
 * The inspector as one module of the agent (`--inspect`, `--inspect-forward`): the hub that gathers what the page
 * shows, its web server, and the forwarding of every inspection event to Stately's WebSocket inspector.
 * Null when neither flag is given: then nothing of it is built.
 */
export function inspectorModule(opts: {
  config: Pick<Config, 'inspect' | 'inspectToken' | 'inspectAllowRemote' | 'inspectForward'>;
  supervisor: Supervisor;
  links: Record<LinkName, InspectableLink>;
  log: Logger;
}): { module: AgentModule; url(): string | null } | null {
  const { config, log } = opts;
  if (config.inspect === null && config.inspectForward === null) return null;
  let hub: InspectorHub | null = null;
  let server: Listening | null = null;
  let stopForward: (() => void) | null = null;
  return {
    url: () => server?.url ?? null,
    module: {
      name: 'inspector',
      start: async () => {
        if (config.inspectForward !== null) stopForward = await forward(config.inspectForward, opts);
        if (config.inspect === null) return;
        hub = new InspectorHub({ supervisor: opts.supervisor, links: opts.links, log });
        const feed = hub;
        server = await serveInspector({
          at: config.inspect,
          token: config.inspectToken,
          allowRemote: config.inspectAllowRemote,
          feed: {
            snapshot: () => feed.snapshot(),
            diagrams: () => feed.diagrams(),
            subscribe: (send) => feed.subscribe(send),
          },
          log,
        });
      },
      stop: async () => {
        await server?.close();
        hub?.stop();
        stopForward?.();
      },
    },
  };
}

/**
 * Every inspection event of the three actor systems, sent to a WebSocket inspector of Stately's tools
 * (@statelyai/inspect). Contexts and events go through the same summary as the page, so no secret leaves; the
 * library holds at most 200 events while the socket is down.
 */
async function forward(
  url: string,
  opts: { supervisor: Supervisor; links: Record<LinkName, InspectableLink>; log: Logger },
): Promise<() => void> {
  const { createWebSocketInspector } = await import('@statelyai/inspect');
  const inspector = createWebSocketInspector({
    url,
    maxDeferredEvents: 200,
    sanitizeContext: (context) => summarize(context),
    sanitizeEvent: (event) => ({ type: event.type, ...summarize(event) }),
  });
  const observer = (event: InspectionEvent) => inspector.inspect.next?.(event);
  const detach = [
    opts.supervisor.inspect(observer),
    opts.links.cloud.inspect(observer),
    opts.links.sidecar.inspect(observer),
  ];
  opts.log.info(
    { step: 'inspector.forwarding', url: displayUrl(url) },
    'forwarding inspection events to a Stately inspector',
  );
  return () => {
    for (const off of detach) off();
    inspector.stop();
  };
}

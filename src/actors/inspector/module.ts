import type { Logger } from 'pino';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { Config } from '../../config.js';
import type { Listening } from '../../io/http/listen.js';
import { ForwardSocket } from '../../io/inspector/forwardSocket.js';
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
 * Only what a snapshot means, from a whitelist: an invoked actor's snapshot also carries its `input`, which for the
 * cloud session is the Socket.IO client with the TLS options (CA bundle, client certificate and key) — the
 * library's context sanitiser never sees it.
 */
function plainSnapshot(snapshot: unknown): Record<string, unknown> {
  const { status, value, context, output, error } = (snapshot ?? {}) as Record<string, unknown>;
  const plain: Record<string, unknown> = { status };
  if (value !== undefined) plain.value = value;
  if (context !== undefined) plain.context = summarize(context);
  if (output !== undefined) plain.output = typeof output === 'object' && output !== null ? summarize(output) : output;
  if (error !== undefined) plain.error = error instanceof Error ? error.message : String(error);
  return plain;
}

/**
 * Every inspection event of the three actor systems, sent to a WebSocket inspector of Stately's tools
 * (@statelyai/inspect; docs/protocol.md#forwarding-to-statelys-inspector). The library turns XState's inspection
 * events into Stately's; our own socket carries them, because the library's gives up after the inspector closes.
 * Contexts and events go through the same summary as the page, so no secret leaves. Each time the socket opens,
 * the live actors are announced first: the root actors were created before anyone inspected them, and an inspector
 * started after the agent has seen none of them.
 */
async function forward(
  url: string,
  opts: { supervisor: Supervisor; links: Record<LinkName, InspectableLink>; log: Logger },
): Promise<() => void> {
  const { createInspector } = await import('@statelyai/inspect');
  const socket = new ForwardSocket({ url, log: opts.log, onOpen: () => announce() });
  const inspector = createInspector(
    { send: (event) => socket.send(event) },
    {
      sanitizeContext: (context) => summarize(context),
      sanitizeEvent: (event) => ({ type: event.type, ...summarize(event) }),
      serialize: (event) =>
        'snapshot' in event ? ({ ...event, snapshot: plainSnapshot(event.snapshot) } as typeof event) : event,
    },
  );
  const announce = () => {
    const refs = [
      ...opts.supervisor.actorRefs().map((a) => a.ref as AnyActorRef),
      opts.links.cloud.actorRef(),
      opts.links.sidecar.actorRef(),
    ];
    for (const ref of refs) {
      // A plain snapshot: the actor's own holds its machine and children, which do not serialise.
      const { status, value, context } = ref.getSnapshot() as { status: 'active'; value: unknown; context: unknown };
      inspector.actor(ref, { status, value, context });
    }
  };
  const observer = (event: InspectionEvent) => inspector.inspect.next?.(event);
  const detach = [
    opts.supervisor.inspect(observer),
    opts.links.cloud.inspect(observer),
    opts.links.sidecar.inspect(observer),
  ];
  socket.start();
  opts.log.info(
    { step: 'inspector.forwarding', url: displayUrl(url) },
    'forwarding inspection events to a Stately inspector',
  );
  return () => {
    for (const off of detach) off();
    socket.stop();
  };
}

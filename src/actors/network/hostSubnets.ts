import type { Logger } from 'pino';
import { readRouteTable } from '../../io/host/routes.js';
import { errorText } from '../../model/errors.js';
import type { SidecarLink } from '../sidecar/link.js';

/**
 * Every subnet the host routes or has an address in, for choosing a free subnet for a runtime's internal network.
 * The agent runs in its own network namespace, so its route table alone shows only its container's routes (and the
 * host's when it runs on the host): the sidecar, with host networking, reports the host's routes (`get_host_routes`)
 * and addresses. Without the sidecar, or with an old one, what the agent sees is what is checked.
 */
export function hostSubnets(deps: {
  sidecar: Pick<SidecarLink, 'online' | 'request' | 'interfaceList'>;
  log: Logger;
  readOwnRoutes?: () => Promise<string[]>;
}): () => Promise<string[]> {
  const readOwn = deps.readOwnRoutes ?? (() => readRouteTable());
  return async () => {
    const own = await readOwn();
    const addresses = deps.sidecar.interfaceList().flatMap((i) => i.ipv4_addresses.map((a) => a.subnet));
    let routes: string[] = [];
    if (deps.sidecar.online()) {
      try {
        const reply = await deps.sidecar.request({ command: 'get_host_routes' }, 5_000);
        if (reply.success && 'routes' in reply) routes = reply.routes;
        else if (!reply.success) throw new Error(reply.error);
      } catch (err) {
        deps.log.warn(
          { step: 'network.host_routes_unknown', err: errorText(err) },
          "the network monitor did not report the host's routes; only its addresses are avoided",
        );
      }
    }
    return [...own, ...addresses, ...routes];
  };
}

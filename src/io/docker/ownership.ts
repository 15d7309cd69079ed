import type { ContainerFacts, NetworkFacts } from './convert.js';
import { LABEL_MANAGED, LABEL_NETWORK_KIND, LABEL_VPLC } from './labels.js';
import { internalNetworkName, parseMacvlanNetworkName } from '../../model/names.js';

/**
 * What this agent may treat as its own. The agent holds the Docker socket of an industrial host, where other
 * applications (compose projects, the plant's own tools) have networks and containers of their own, sometimes with
 * names that look like ours. A name alone proves nothing: `shop_internal` may be a compose network, and
 * `macvlan_eth0_10.0.0.0_24` may be someone's VLAN bridge. So an object is ours when it carries our labels and the
 * shape we give it, or — for a host taken over from the old agent, which set no labels — when it has exactly the
 * shape the old agent gave it (docs/protocol.md#docker-objects) and the old agent's files record it.
 */

/** Every label key this agent sets starts with this; the old agent set none. */
const OUR_LABEL_PREFIX = 'edge.autonomy.';

function hasOurLabels(labels: Readonly<Record<string, string>>): boolean {
  return Object.keys(labels).some((key) => key.startsWith(OUR_LABEL_PREFIX));
}

/** `<runtime>_internal` as this agent creates it: our labels naming that runtime, an internal bridge. */
export function isOurInternalNetwork(net: NetworkFacts, runtime: string): boolean {
  return (
    net.labels[LABEL_MANAGED] === 'true' &&
    net.labels[LABEL_NETWORK_KIND] === 'internal' &&
    net.labels[LABEL_VPLC] === runtime &&
    net.name === internalNetworkName(runtime) &&
    net.driver === 'bridge' &&
    net.internal
  );
}

/**
 * `<runtime>_internal` as the old agent created it: `docker network create --internal <runtime>_internal`, a bridge
 * with no labels at all and Docker's own address pool.
 */
export function isOldAgentInternalNetwork(net: NetworkFacts, runtime: string): boolean {
  return (
    Object.keys(net.labels).length === 0 &&
    net.name === internalNetworkName(runtime) &&
    net.driver === 'bridge' &&
    net.internal
  );
}

/** A MACVLAN network this agent created (labels), on the parent interface its name says. */
export function isOurMacvlanNetwork(net: NetworkFacts): boolean {
  return (
    net.labels[LABEL_MANAGED] === 'true' && net.labels[LABEL_NETWORK_KIND] === 'macvlan' && net.driver === 'macvlan'
  );
}

/**
 * A MACVLAN network as the old agent created it: no labels, named `macvlan_<parent>_<a.b.c.d>_<prefix>` after its
 * own `parent` option and its only address pool, verbatim.
 */
export function isOldAgentMacvlanNetwork(net: NetworkFacts): boolean {
  const named = parseMacvlanNetworkName(net.name);
  return (
    named !== null &&
    Object.keys(net.labels).length === 0 &&
    net.driver === 'macvlan' &&
    net.parent === named.parentInterface &&
    net.subnets.length === 1 &&
    net.subnets[0] === named.cidr
  );
}

/** Any network this agent created, by its labels. */
export function isOurNetwork(net: NetworkFacts): boolean {
  return net.labels[LABEL_MANAGED] === 'true' && (net.driver === 'bridge' || net.driver === 'macvlan');
}

/** Capabilities as Docker reports them: API 1.41 keeps what was asked (`SYS_NICE`), newer engines add `CAP_`. */
function capabilities(facts: Pick<ContainerFacts, 'capAdd'>): Set<string> {
  return new Set(facts.capAdd.map((c) => c.toUpperCase().replace(/^CAP_/, '')));
}

/**
 * A runtime container as the old agent created it: none of our labels (its image may have labels of its own), the
 * capabilities the old agent always added, and attached to — or started on — its `<name>_internal` network or one
 * of the networks the old agent's files record for it.
 */
export function isOldAgentRuntime(facts: ContainerFacts, recordedNetworks: ReadonlySet<string>): boolean {
  if (hasOurLabels(facts.labels)) return false;
  const caps = capabilities(facts);
  if (!caps.has('SYS_NICE') || !caps.has('MKNOD')) return false;
  const own = new Set([internalNetworkName(facts.name), ...recordedNetworks]);
  return (
    Object.keys(facts.networks).some((n) => own.has(n)) || (facts.networkMode !== null && own.has(facts.networkMode))
  );
}

/**
 * Why `net` must not carry vPLC `runtime` (null when it may): it is neither the network this agent made for it nor,
 * for a runtime adopted from the old agent, the one the old agent made; or a container other than that runtime and
 * the agent itself is attached to it (it would reach the PLC, and be reached by it).
 */
export function internalNetworkProblem(
  net: NetworkFacts,
  runtime: string,
  opts: { oldAgentRuntime: boolean; selfId: string | null },
): string | null {
  const reasons: string[] = [];
  const ours = isOurInternalNetwork(net, runtime) || (opts.oldAgentRuntime && isOldAgentInternalNetwork(net, runtime));
  if (!ours) {
    if (net.labels[LABEL_MANAGED] !== 'true') {
      reasons.push(
        opts.oldAgentRuntime
          ? 'it is not the unlabelled internal bridge the old agent made'
          : 'it has no labels of this agent',
      );
    } else if (net.labels[LABEL_VPLC] !== runtime) {
      reasons.push(`its labels give it to ${net.labels[LABEL_VPLC] ?? 'no vPLC'}`);
    }
    if (net.driver !== 'bridge') reasons.push(`its driver is ${net.driver}`);
    else if (!net.internal) reasons.push('it is not an internal network (it routes outside the host)');
    if (reasons.length === 0) reasons.push('it is not the network this agent made');
  }
  const strangers = Object.entries(net.containers)
    .filter(([id, c]) => c.name !== runtime && id !== opts.selfId)
    .map(([, c]) => c.name)
    .sort();
  if (strangers.length > 0)
    reasons.push(`${strangers.join(', ')} ${strangers.length === 1 ? 'is' : 'are'} attached to it`);
  if (reasons.length === 0) return null;
  return `Network ${net.name} already exists on this host and is not the internal network of vPLC ${runtime} (${reasons.join('; ')}); the agent will not attach ${runtime} or itself to it. Choose another container_name, or remove that network if nothing needs it.`;
}

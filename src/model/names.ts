/**
 * Docker object names this agent creates, in both directions: the encoders that make them and the decoders that
 * read them back. They match the old agent's names exactly (docs/protocol.md#docker-objects), so a host it set up is
 * adopted as it is; names are always compared whole, never by prefix, so `eth1` never matches `eth10`'s network.
 */

const INTERNAL_SUFFIX = '_internal';
const MACVLAN_NAME = /^macvlan_(.+)_(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})_(\d{1,2})$/;

/** `<container_name>_internal`: the per-runtime internal bridge. */
export function internalNetworkName(containerName: string): string {
  return `${containerName}${INTERNAL_SUFFIX}`;
}

/** The runtime an `<name>_internal` bridge belongs to by its name, or null when the name is not of that form. */
export function runtimeOfInternalNetwork(network: string): string | null {
  if (!network.endsWith(INTERNAL_SUFFIX) || network.length === INTERNAL_SUFFIX.length) return null;
  return network.slice(0, -INTERNAL_SUFFIX.length);
}

/** `macvlan_<parent>_<cidr with "/" replaced by "_">`, e.g. `macvlan_eth0_192.168.1.0_24`. */
export function macvlanNetworkName(parentInterface: string, cidr: string): string {
  return `macvlan_${parentInterface}_${cidr.replace(/\//g, '_')}`;
}

/** The parent interface and subnet a MACVLAN network name encodes, or null when it is not such a name. */
export function parseMacvlanNetworkName(network: string): { parentInterface: string; cidr: string } | null {
  const m = MACVLAN_NAME.exec(network);
  return m ? { parentInterface: m[1]!, cidr: `${m[2]}/${m[3]}` } : null;
}

/** The parent interface of a MACVLAN network name, or null when it is not such a name. */
export function macvlanParentOf(network: string): string | null {
  return parseMacvlanNetworkName(network)?.parentInterface ?? null;
}

/** The validation-only key of a vNIC whose subnet could not be resolved. */
export function unknownMacvlanKey(parentInterface: string): string {
  return `macvlan_${parentInterface}_unknown`;
}

/** The MACVLAN network a vNIC sits on, found among a container's networks by the parent its name encodes. */
export function vnicNetwork<T>(networks: Record<string, T>, parentInterface: string): [string, T] | undefined {
  for (const [name, endpoint] of Object.entries(networks)) {
    if (macvlanParentOf(name) === parentInterface) return [name, endpoint];
  }
  return undefined;
}

/**
 * Longest container name accepted. Docker itself takes longer ones, but the name is also a network name
 * (`<name>_internal`), a label value, a file key and part of every log line; 128 leaves room for all of them.
 */
export const MAX_CONTAINER_NAME_LENGTH = 128;

/** Docker's container-name rule (the daemon's `RestrictedNamePattern`). */
export const CONTAINER_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/**
 * An image reference split at its tag: `localhost:5000/openplc:v2` -> repository `localhost:5000/openplc`, tag `v2`.
 * A reference without a tag has Docker's implicit `latest`; one pinned by digest (`…@sha256:…`) has no tag.
 */
export function splitImageReference(reference: string): { repository: string; tag: string | null } {
  const at = reference.indexOf('@');
  if (at !== -1) {
    const named = reference.slice(0, at);
    const colon = named.lastIndexOf(':');
    return { repository: colon > named.lastIndexOf('/') ? named.slice(0, colon) : named, tag: null };
  }
  const colon = reference.lastIndexOf(':');
  // A ':' before the last '/' is a registry's port (`localhost:5000/x`), not a tag.
  if (colon > reference.lastIndexOf('/'))
    return { repository: reference.slice(0, colon), tag: reference.slice(colon + 1) };
  return { repository: reference, tag: 'latest' };
}

/**
 * The image a vPLC runs: `--runtime-image` as it is, or its repository with the vPLC's `runtime_version` as tag (the
 * old agent's `ghcr.io/autonomy-logic/openplc-runtime:<runtime_version or latest>`).
 */
export function runtimeImageOf(configuredImage: string, runtimeVersion: string | undefined): string {
  if (runtimeVersion === undefined) return configuredImage;
  return `${splitImageReference(configuredImage).repository}:${runtimeVersion}`;
}

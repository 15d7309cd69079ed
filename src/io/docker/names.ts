/**
 * Docker object names this agent creates. They must match the reference agent exactly (spec README §1, §8.2, §8.3)
 * so a host set up by the old agent is adopted as it is, and names are always compared whole, never by prefix (D16).
 */

/** `<container_name>_internal`: the per-runtime internal bridge (spec §8.2). */
export function internalNetworkName(containerName: string): string {
  return `${containerName}_internal`;
}

/** `macvlan_<parent>_<cidr with "/" replaced by "_">`, e.g. `macvlan_eth0_192.168.1.0_24` (spec §8.3). */
export function macvlanNetworkName(parentInterface: string, cidr: string): string {
  return `macvlan_${parentInterface}_${cidr.replace(/\//g, '_')}`;
}

/** The validation-only key of a vNIC whose subnet could not be resolved (spec §8.3). */
export function unknownMacvlanKey(parentInterface: string): string {
  return `macvlan_${parentInterface}_unknown`;
}

/** Docker's container-name rule (daemon `names.RestrictedNamePattern`). */
export const CONTAINER_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Longest name we accept: the `_internal` network name derived from it must stay a sane length too. */
export const MAX_CONTAINER_NAME_LENGTH = 128;

/** A sentence describing why `name` is not a valid container name, or `null` when it is valid. */
export function containerNameProblem(name: string): string | null {
  if (name.trim() === '') return 'Container name must be a non-empty string';
  if (name.length > MAX_CONTAINER_NAME_LENGTH) {
    return `Container name "${name.slice(0, 40)}…" is longer than ${MAX_CONTAINER_NAME_LENGTH} characters; choose a shorter container_name.`;
  }
  if (!CONTAINER_NAME_PATTERN.test(name)) {
    return `Container name "${name}" is not a valid Docker container name: use at least two characters from letters, digits, "_", "." and "-", starting with a letter or digit.`;
  }
  return null;
}

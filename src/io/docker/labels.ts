import type { SerialConfig, VnicConfig, VplcSpec } from '../../model/vplc.js';

/**
 * Labels mark what this agent owns. A runtime container carries its whole vNIC and serial description, so the agent
 * can rebuild every vPLC from Docker alone after a crash or a reinstall (docs/protocol.md#start-up-reconciliation).
 */
export const LABEL_MANAGED = 'edge.autonomy.managed';
export const LABEL_ROLE = 'edge.autonomy.role';
export const LABEL_VNICS = 'edge.autonomy.vnics';
export const LABEL_SERIALS = 'edge.autonomy.serials';
export const LABEL_SPEC_VERSION = 'edge.autonomy.spec-version';
/** MACs chosen at create, by vNIC name (generated ones too), so a recreated runtime keeps its DHCP identity. */
export const LABEL_MACS = 'edge.autonomy.macs';
/** The vPLC's `runtime_version` (the image tag it was created with); absent when it runs the `--runtime-image` tag. */
export const LABEL_RUNTIME_VERSION = 'edge.autonomy.runtime-version';
/** The runtime's dedicated NIC (`dedicated_interface`), when it has one. */
export const LABEL_DEDICATED_NIC = 'edge.autonomy.dedicated-interface';
/** On networks: which kind of network we made (`internal` | `macvlan`). */
export const LABEL_NETWORK_KIND = 'edge.autonomy.network';
/** On an internal network: the runtime it belongs to. */
export const LABEL_VPLC = 'edge.autonomy.vplc';

export const ROLE_VPLC = 'vplc';
export const ROLE_AGENT = 'orchestrator-agent';
export const MANAGED_FILTER = `${LABEL_MANAGED}=true`;

const SPEC_VERSION = '1';

export type Labels = Record<string, string>;

/**
 * Labels of a runtime container: ownership plus the spec as JSON (vNIC objects kept verbatim, unknown keys included)
 * and, when given, the MAC chosen for each vNIC.
 */
export function runtimeLabels(spec: VplcSpec, macs?: Record<string, string>): Labels {
  const labels: Labels = {
    [LABEL_MANAGED]: 'true',
    [LABEL_ROLE]: ROLE_VPLC,
    [LABEL_SPEC_VERSION]: SPEC_VERSION,
    [LABEL_VNICS]: JSON.stringify(spec.vnics),
    [LABEL_SERIALS]: JSON.stringify(spec.serials),
  };
  if (macs) labels[LABEL_MACS] = JSON.stringify(macs);
  if (spec.runtimeVersion !== undefined) labels[LABEL_RUNTIME_VERSION] = spec.runtimeVersion;
  if (spec.dedicatedInterface) labels[LABEL_DEDICATED_NIC] = spec.dedicatedInterface;
  return labels;
}

/**
 * The MACs chosen at create, by vNIC name (empty when the label is absent or damaged). Without a prototype: vNIC
 * names are the cloud's, and `constructor` must find nothing but a vNIC of that name.
 */
export function macsFromLabels(labels: Labels | null | undefined): Record<string, string> {
  const macs = Object.create(null) as Record<string, string>;
  try {
    const parsed: unknown = JSON.parse(labels?.[LABEL_MACS] ?? '{}');
    if (!isRecord(parsed)) return macs;
    for (const [vnic, mac] of Object.entries(parsed)) if (typeof mac === 'string') macs[vnic] = mac;
  } catch {
    // damaged label: no MACs
  }
  return macs;
}

export function internalNetworkLabels(runtimeName: string): Labels {
  return { [LABEL_MANAGED]: 'true', [LABEL_NETWORK_KIND]: 'internal', [LABEL_VPLC]: runtimeName };
}

export function macvlanNetworkLabels(): Labels {
  return { [LABEL_MANAGED]: 'true', [LABEL_NETWORK_KIND]: 'macvlan' };
}

export function isManaged(labels: Labels | null | undefined): boolean {
  return labels?.[LABEL_MANAGED] === 'true';
}

export function isManagedRuntime(labels: Labels | null | undefined): boolean {
  return isManaged(labels) && labels?.[LABEL_ROLE] === ROLE_VPLC;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isVnic(v: unknown): v is VnicConfig {
  return (
    isRecord(v) &&
    typeof v.name === 'string' &&
    typeof v.parent_interface === 'string' &&
    typeof v.network_mode === 'string'
  );
}

function isSerial(v: unknown): v is SerialConfig {
  return (
    isRecord(v) && typeof v.name === 'string' && typeof v.device_id === 'string' && typeof v.container_path === 'string'
  );
}

function parseArray(text: string | undefined): unknown[] | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Rebuild a runtime's spec from its container name and labels. `undefined` when the container is not one of our
 * runtimes or its labels are damaged (then the caller falls back to the persisted files).
 */
export function specFromLabels(name: string, labels: Labels | null | undefined): VplcSpec | undefined {
  if (!isManagedRuntime(labels) || labels === null || labels === undefined) return undefined;
  const vnics = parseArray(labels[LABEL_VNICS]);
  const serials = parseArray(labels[LABEL_SERIALS] ?? '[]');
  if (vnics === undefined || serials === undefined) return undefined;
  if (!vnics.every(isVnic) || !serials.every(isSerial)) return undefined;
  const runtimeVersion = labels[LABEL_RUNTIME_VERSION];
  const dedicated = labels[LABEL_DEDICATED_NIC];
  return {
    name,
    vnics,
    serials,
    ...(runtimeVersion ? { runtimeVersion } : {}),
    ...(dedicated ? { dedicatedInterface: dedicated } : {}),
  };
}

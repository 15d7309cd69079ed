import { setTimeout as sleep } from 'node:timers/promises';
import type { InterfaceInfo } from '../../../../sidecar/src/protocol.js';
import type { TopicContext } from '../../../io/cloud/router.js';
import type {
  CreateNewRuntimeRequest,
  CreateNewRuntimeResult,
  DeleteDeviceRequest,
  DeleteDeviceResult,
  DeviceCommandResult,
  StartDeviceRequest,
} from '../../../io/cloud/topics/index.js';
import type { VplcSpec } from '../../../model/vplc.js';
import { validateVplcSpec } from '../../../machines/vplc/validate.js';
import type { CommandName, Supervisor } from '../../vplc/supervisor.js';
import { truncate } from '../../../model/echo.js';
import { errorText } from '../../../model/errors.js';

/**
 * Longest vPLC name accepted. Docker sets no limit, but the name is part of file names (the sidecar's DHCP lease files
 * are `<vplc>_<vnic>.lease`, at most 255 bytes), of network names and of every log line about the vPLC.
 */
export const MAX_VPLC_NAME_LENGTH = 128;

/**
 * The old agent's per-vNIC record of how it reaches its parent (`_interface_type`, `_is_wifi`, `_network_method`),
 * decided once at create from the sidecar's interface type and kept in the vNIC object (labels, runtime_vnics.json),
 * so a WiFi vNIC stays one across restarts even before the sidecar reconnects. Written for WiFi vNICs only: a vNIC
 * without them is ethernet for the old agent too (docs/decisions.md#wifi-vnics-go-through-a-proxy-arp-bridge).
 */
function withNetworkMethod(
  vnic: VplcSpec['vnics'][number],
  typeOf: (iface: string) => 'wifi' | 'ethernet' | undefined,
): VplcSpec['vnics'][number] {
  if (typeOf(vnic.parent_interface) !== 'wifi') return vnic;
  return { ...vnic, _interface_type: 'wifi', _is_wifi: true, _network_method: 'proxy_arp' };
}

/** What `parentTypes` reads of the sidecar link. */
export interface InterfaceSource {
  online(): boolean;
  /** connecting, online, backingOff or stopped. */
  state(): string;
  interfaceList(): InterfaceInfo[];
}

/**
 * The sidecar's interface type of each parent of a create, for `withNetworkMethod`. Right after the sidecar
 * (re)connects, and while the link is still connecting, its interface list lacks what its discovery has not sent yet:
 * a WiFi parent looked up then would read as unknown and get a MACVLAN network it cannot carry. So a create waits
 * (up to `waitMs`) while the link is connecting, or online without every parent in its list. A sidecar that is down
 * costs no wait: nothing would arrive.
 */
export async function parentTypes(
  sidecar: InterfaceSource,
  parents: readonly string[],
  waitMs = 3000,
  intervalMs = 100,
): Promise<(iface: string) => 'wifi' | 'ethernet' | undefined> {
  const lookup = (iface: string) => sidecar.interfaceList().find((i) => i.interface === iface)?.type;
  const deadline = Date.now() + waitMs;
  const pending = () => {
    if (parents.length === 0) return false;
    if (sidecar.state() === 'connecting') return true;
    if (!sidecar.online()) return false;
    const known = new Set(sidecar.interfaceList().map((i) => i.interface));
    return parents.some((p) => !known.has(p));
  };
  while (pending() && Date.now() < deadline) await sleep(intervalMs);
  return lookup;
}

/** create_new_runtime: refuse bad specs at once; otherwise the vPLC actor starts creating. */
export function createNewRuntime(
  supervisor: Supervisor,
  req: CreateNewRuntimeRequest,
  interfaceType: (iface: string) => 'wifi' | 'ethernet' | undefined = () => undefined,
): CreateNewRuntimeResult {
  if (req.container_name.length > MAX_VPLC_NAME_LENGTH) {
    return {
      status: 'error',
      error: `Container name '${truncate(req.container_name, 40)}' is longer than ${MAX_VPLC_NAME_LENGTH} characters; choose a shorter name`,
    };
  }
  const spec: VplcSpec = {
    name: req.container_name,
    vnics: (req.vnic_configs as VplcSpec['vnics']).map((v) => withNetworkMethod(v, interfaceType)),
    serials: (req.serial_configs ?? []) as VplcSpec['serials'],
    ...(req.dedicated_interface ? { dedicatedInterface: req.dedicated_interface } : {}),
  };
  // Absent, null or "" all mean the tag of --runtime-image, as the old agent's `latest`.
  if (req.runtime_version) spec.runtimeVersion = req.runtime_version;
  const invalid = validateVplcSpec(spec);
  if (invalid) return { status: 'error', error: invalid };
  const admission = supervisor.create(spec);
  if (!admission.accepted) return { status: 'error', error: admission.reason };
  // The newest old agent's rule: the count only when serial ports were asked for, never 0
  // (docs/decisions.md#the-contract-follows-the-newest-release-where-both-clouds-are-served).
  return {
    status: 'creating',
    container_id: spec.name,
    message: `Container creation started for ${spec.name}`,
    ...(spec.serials.length > 0 ? { serial_configs_count: spec.serials.length } : {}),
  };
}

/** delete_device: only runtimes this agent manages, so a mistyped id cannot delete a foreign container. */
export function deleteDevice(supervisor: Supervisor, req: DeleteDeviceRequest): DeleteDeviceResult {
  const id = req.device_id;
  const admission = supervisor.command(id, 'DELETE');
  if (!admission.accepted) return { status: 'error', error: admission.reason };
  return { status: 'deleting', device_id: id, message: `Container deletion started for ${id}` };
}

const COMMANDS = { start_device: 'START', stop_device: 'STOP', restart_device: 'RESTART' } as const satisfies Record<
  string,
  CommandName
>;
const VERBS = { start_device: 'start', stop_device: 'stop', restart_device: 'restart' } as const;

/**
 * start_device / stop_device / restart_device: the ack says whether the command was accepted; the same-name event the
 * cloud listens for (docs/protocol.md#completion-events) follows when the operation ends — also for a refusal, so a
 * cloud waiting for the event always gets one.
 */
export function deviceCommand(
  supervisor: Supervisor,
  topic: keyof typeof COMMANDS,
  req: StartDeviceRequest,
  ctx: TopicContext,
): DeviceCommandResult {
  const id = req.device_id;
  const correlation_id = req.correlation_id ?? null;
  const event = (outcome: { success: boolean; error?: string }) =>
    ctx.emit(topic, { action: topic, correlation_id, device_id: id, ...outcome });
  const admission = supervisor.command(id, COMMANDS[topic]);
  if (!admission.accepted) {
    event({ success: false, error: admission.reason });
    return { status: 'error', device_id: id, error: admission.reason };
  }
  admission.done.then(
    (outcome) => event(outcome.success ? { success: true } : { success: false, error: outcome.error }),
    (error: unknown) => event({ success: false, error: errorText(error) }),
  );
  return { status: 'accepted', device_id: id, message: `${capitalise(VERBS[topic])} of ${id} accepted` };
}

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

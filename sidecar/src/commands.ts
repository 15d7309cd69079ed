/**
 * Command dispatch: one reply per command line, always, echoing the command's `id` (docs/protocol.md#sidecar-commands).
 * Validation messages and their order are the old sidecar's, so an agent written for it reads them unchanged.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { DhcpManager, DhcpResult } from './dhcp.js';
import { isMac, type NetnsTools, type SetMacResult, setMac } from './mac.js';
import {
  COMMAND_TIMEOUT_MS,
  type NetlinkStatus,
  type NetlinkStatusReply,
  type SidecarCommandName,
  type SidecarReply,
  type StatusReply,
} from './protocol.js';
import { routeDestinations } from './kernel-view.js';
import { notARuntimeContainer, refusedTarget } from './targets.js';
import type { SerialMonitor } from './serial.js';
import type { NicMover } from './nics.js';
import type { ProxyArpBridges } from './proxyArp.js';
import type { WifiDhcp } from './wifiDhcp.js';
import { errorText } from '../../src/model/errors.js';
import { buildVersion } from '../../src/version.js';

export interface CommandContext {
  log: Logger;
  dhcp: DhcpManager;
  serial: SerialMonitor;
  nics: NicMover;
  bridges: ProxyArpBridges;
  wifiDhcp: WifiDhcp;
  timeouts?: Partial<Record<SidecarCommandName, number>>;
  /** `nsenter`/`ip` commands for set_mac (tests); the defaults are the host's. */
  netnsTools?: NetnsTools;
  /** iproute2 command for the host's routes (tests point it at a wrapper that adds `-n <netns>`). */
  ipCommand?: string;
  /** Where /proc is (tests). */
  procRoot?: string;
  /** The kernel link watch and the changes waiting out their quiet period (get_netlink_status, get_status). */
  interfaces?: { netlinkStatus(): NetlinkStatus; pendingChanges(): string[] };
  /** Agents connected to the socket (get_status). */
  clientsConnected?: () => number;
  /** The sidecar's own version (get_status): main.ts reads it from its environment; package.json when not given. */
  version?: string;
}

/** Before the interface monitor exists (or in tests without one): nothing is watched. */
const NOT_WATCHING: NetlinkStatus = { running: false, degraded: true, consecutive_errors: 0, socket_active: false };

const execFileAsync = promisify(execFile);

type Fields = Record<string, unknown>;
type Id = string | number;
type Handler = (fields: Fields) => Promise<SidecarReply>;

export class CommandDispatcher {
  private readonly handlers: Record<SidecarCommandName, Handler>;

  constructor(private readonly context: CommandContext) {
    const { dhcp, serial, nics, bridges, wifiDhcp } = context;
    this.handlers = {
      start_dhcp: (fields) => startDhcp(dhcp, fields),
      stop_dhcp: async (fields) => {
        const { container_name: containerName, vnic_name: vnicName } = fields;
        if (!containerName || !vnicName) return { success: false, error: 'Missing required parameters' };
        return dhcp.stop(String(containerName), String(vnicName));
      },
      get_dhcp_status: async () => ({ success: true, status: dhcp.status() }),
      get_device_status: async () => ({ success: true, status: serial.status() }),
      discover_devices: async () => ({ success: true, devices: await serial.rescan() }),
      set_mac: (fields) => setMacCommand(fields, context.netnsTools, context.procRoot),
      get_host_routes: () => hostRoutes(context.ipCommand ?? 'ip'),
      get_netlink_status: async (): Promise<NetlinkStatusReply> => ({
        success: true,
        status: context.interfaces?.netlinkStatus() ?? NOT_WATCHING,
      }),
      get_status: async (): Promise<StatusReply> => ({
        success: true,
        status: {
          netlink: context.interfaces?.netlinkStatus() ?? NOT_WATCHING,
          dhcp: dhcp.status(),
          devices: serial.status(),
          clients_connected: context.clientsConnected?.() ?? 0,
          pending_changes: context.interfaces?.pendingChanges() ?? [],
          version: context.version ?? buildVersion({}),
        },
      }),
      move_nic_to_container: (fields) => nics.move(fields),
      return_nic_to_host: (fields) => nics.giveBack(fields),
      check_nic_in_container: (fields) => nics.check(fields),
      setup_proxy_arp_bridge: (fields) => bridges.setupCommand(fields),
      cleanup_proxy_arp_bridge: (fields) => bridges.cleanupCommand(fields),
      cleanup_all_proxy_arp: () => bridges.cleanupAll(),
      request_wifi_dhcp: (fields) => wifiDhcp.request(fields),
      stop_wifi_dhcp: async (fields) => {
        const { container_name: containerName, vnic_name: vnicName } = fields;
        if (!containerName || !vnicName) return { success: false, error: 'Missing required parameters' };
        return wifiDhcp.stop(String(containerName), String(vnicName));
      },
    };
  }

  /** Never rejects: whatever happens, the result is the one reply for this line. */
  async handleLine(line: string): Promise<SidecarReply> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return { success: false, error: 'Invalid JSON' };
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { success: false, error: 'Invalid command: expected a JSON object with a "command" field' };
    }
    const fields = parsed as Fields;
    const rawId = fields.id;
    if (rawId !== undefined && typeof rawId !== 'string' && typeof rawId !== 'number') {
      return { success: false, error: 'Invalid id: it must be a string or a number' };
    }
    const id: Id | undefined = rawId;
    const reply = await this.run(fields);
    return id === undefined ? reply : { id, ...reply };
  }

  private async run(fields: Fields): Promise<SidecarReply> {
    const name = fields.command;
    const { log } = this.context;
    if (typeof name !== 'string' || !Object.hasOwn(this.handlers, name)) {
      return { success: false, error: `Unknown command: ${typeof name === 'string' ? name : String(name)}` };
    }
    const command = name as SidecarCommandName;
    const timeoutMs = this.context.timeouts?.[command] ?? COMMAND_TIMEOUT_MS[command];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<SidecarReply>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            success: false,
            error: `${command} did not finish within ${timeoutMs / 1000} s; the sidecar may still complete it, check its status before retrying`,
          }),
        timeoutMs,
      );
    });
    try {
      const reply = await Promise.race([this.handlers[command](fields), timeout]);
      log.debug({ step: 'command.done', command, success: reply.success }, 'command answered');
      return reply;
    } catch (err) {
      log.error({ step: 'command.failed', command, err }, 'command failed');
      return { success: false, error: `${command} failed: ${errorText(err)}` };
    } finally {
      clearTimeout(timer);
    }
  }
}

async function startDhcp(dhcp: DhcpManager, fields: Fields): Promise<DhcpResult> {
  const { container_name: containerName, vnic_name: vnicName, mac_address: macAddress } = fields;
  const rawPid = fields.container_pid;
  if (!containerName) return { success: false, error: 'Missing container_name' };
  if (!vnicName) return { success: false, error: 'Missing vnic_name' };
  if (!macAddress) return { success: false, error: 'Missing mac_address' };
  if (rawPid === undefined || rawPid === null) return { success: false, error: 'Missing container_pid' };
  const pid = toInteger(rawPid);
  if (pid === undefined) return { success: false, error: `Invalid container_pid: ${String(rawPid)}` };
  return dhcp.start({
    containerName: String(containerName),
    vnicName: String(vnicName),
    macAddress: String(macAddress),
    containerPid: pid,
  });
}

async function setMacCommand(
  fields: Fields,
  tools: NetnsTools | undefined,
  procRoot: string | undefined,
): Promise<SetMacResult> {
  const { current_mac: currentMac, mac_address: macAddress } = fields;
  const rawPid = fields.container_pid;
  if (rawPid === undefined || rawPid === null) return { success: false, error: 'Missing container_pid' };
  const pid = toInteger(rawPid);
  if (pid === undefined || pid <= 0) return { success: false, error: `Invalid container_pid: ${String(rawPid)}` };
  if (!currentMac) return { success: false, error: 'Missing current_mac' };
  if (!macAddress) return { success: false, error: 'Missing mac_address' };
  for (const [field, value] of [
    ['current_mac', currentMac],
    ['mac_address', macAddress],
  ] as const) {
    if (typeof value !== 'string' || !isMac(value)) {
      return {
        success: false,
        error: `Invalid ${field}: ${String(value)} is not a MAC address like 02:5a:10:33:9c:e1`,
      };
    }
  }
  // Changing a MAC in the host's namespace would change a host NIC's: only a runtime container's own namespace.
  const why = await notARuntimeContainer(pid, procRoot);
  if (why) return { success: false, error: refusedTarget('set_mac', pid, why) };
  return setMac(pid, String(currentMac), String(macAddress), tools);
}

async function hostRoutes(ip: string): Promise<SidecarReply> {
  const { stdout } = await execFileAsync(ip, ['-json', '-4', 'route', 'show', 'table', 'all'], {
    timeout: 4_000,
    maxBuffer: 32 * 1024 * 1024,
  });
  return { success: true, routes: routeDestinations(JSON.parse(stdout === '' ? '[]' : stdout) as unknown) };
}

/** The old sidecar coerced with Python's int(): integers and integer strings pass, anything else does not. */
function toInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) return Number.parseInt(value, 10);
  return undefined;
}

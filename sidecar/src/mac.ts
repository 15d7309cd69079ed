/**
 * A runtime's network interfaces seen from inside its network namespace (`nsenter -t <pid> -n`, the sidecar shares
 * the host PID namespace): finding a vNIC by MAC (DHCP) and giving a vNIC back the MAC it had before a network move.
 *
 * Why `set_mac` exists: Docker cannot choose the MAC of a network it connects to an existing container (API 1.41
 * and 1.45 both ignore `EndpointConfig.MacAddress` on connect), so a vNIC moved to its parent's new subnet comes back
 * with Docker's MAC. The agent has neither the host PID namespace nor NET_ADMIN; the sidecar has both.
 *
 * Measured (kernel 6.x, iproute2 6.x): `ip link set dev <macvlan> address <mac>` succeeds while the link is up, so the
 * link is not taken down (no carrier flap for the PLC). Docker's inspect keeps reporting the MAC it assigned.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Each `nsenter … ip` call; a namespace that does not answer within this is treated as gone. */
export const NETNS_COMMAND_TIMEOUT_MS = 3000;

export interface NetnsTools {
  nsenter?: string;
  ip?: string;
  timeoutMs?: number;
}

export interface NetnsLink {
  ifname: string;
  address: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function sameMac(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export function isMac(text: string): boolean {
  return MAC.test(text);
}

function commandError(err: unknown): string {
  const e = err as { stderr?: string; killed?: boolean; code?: string | number; message?: string };
  if (e.killed) return 'timed out';
  const stderr = typeof e.stderr === 'string' ? e.stderr.trim() : '';
  return stderr || e.message || String(err);
}

async function inNetns(pid: number, args: string[], tools: NetnsTools): Promise<string> {
  const { stdout } = await execFileAsync(
    tools.nsenter ?? 'nsenter',
    ['-t', String(pid), '-n', '--', tools.ip ?? 'ip', ...args],
    { timeout: tools.timeoutMs ?? NETNS_COMMAND_TIMEOUT_MS },
  );
  return stdout;
}

/** Every link with a MAC inside the network namespace of `pid`. Rejects when the namespace cannot be entered. */
export async function netnsLinks(pid: number, tools: NetnsTools = {}): Promise<NetnsLink[]> {
  const links = JSON.parse(await inNetns(pid, ['-json', 'link', 'show'], tools)) as Array<{
    ifname?: string;
    address?: string;
  }>;
  return links.flatMap((l) => (l.ifname && l.address ? [{ ifname: l.ifname, address: l.address }] : []));
}

/** The interface carrying `mac` inside the namespace of `pid`, or `undefined`. */
export async function linkByMac(pid: number, mac: string, tools: NetnsTools = {}): Promise<string | undefined> {
  return (await netnsLinks(pid, tools)).find((l) => sameMac(l.address, mac))?.ifname;
}

export type SetMacResult = { success: true; message: string } | { success: false; error: string };

/**
 * Give the interface that has `currentMac` inside the namespace of `pid` the address `mac`. Idempotent: when no
 * interface has `currentMac` but one already has `mac`, that is success (a repeated request, e.g. after a retry).
 */
export async function setMac(
  pid: number,
  currentMac: string,
  mac: string,
  tools: NetnsTools = {},
): Promise<SetMacResult> {
  let links: NetnsLink[];
  try {
    links = await netnsLinks(pid, tools);
  } catch (err) {
    return {
      success: false,
      error: `Cannot enter the network namespace of process ${pid} (is the container running?): ${commandError(err)}`,
    };
  }
  const done = links.find((l) => sameMac(l.address, mac));
  if (done) return { success: true, message: `${done.ifname} already has MAC ${mac.toLowerCase()}` };
  const link = links.find((l) => sameMac(l.address, currentMac));
  if (!link) {
    return {
      success: false,
      error: `No interface with MAC ${currentMac.toLowerCase()} in the network namespace of process ${pid}; nothing was changed`,
    };
  }
  try {
    await inNetns(pid, ['link', 'set', 'dev', link.ifname, 'address', mac.toLowerCase()], tools);
  } catch (err) {
    return {
      success: false,
      error: `Could not set MAC ${mac.toLowerCase()} on ${link.ifname} of process ${pid}: ${commandError(err)}`,
    };
  }
  return { success: true, message: `MAC of ${link.ifname} set to ${mac.toLowerCase()}` };
}

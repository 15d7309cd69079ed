/**
 * Dedicated NICs (docs/protocol.md#dedicated-nics): a host network port moved into a runtime's network namespace, so
 * the PLC has raw access to it (EtherCAT, PROFINET), and given back to the host. The commands are the old sidecar's
 * (`ip link set <if> netns <pid>`, then up inside), with these differences:
 *
 * - the target must be a runtime container's main process (targets.ts), as for DHCP and set_mac: a NIC moved "into"
 *   PID 1 or a host process would be a no-op at best and a NIC handed to an arbitrary process at worst;
 * - `return_nic_to_host` targets the sidecar's own network namespace (`/proc/self/ns/net`, the host's: the sidecar
 *   runs with host networking) rather than "netns 1", which means the same thing only with the host PID namespace;
 * - a return of a NIC that is already on the host succeeds: a runtime that stopped gave it back by itself (the
 *   kernel moves a physical NIC to the initial namespace when the runtime's namespace goes away), and reconciliation
 *   must be able to repeat a return.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { notARuntimeContainer, refusedTarget } from './targets.js';

const execFileAsync = promisify(execFile);
const COMMAND_TIMEOUT_MS = 4000;

export type NicResult = { success: true } | { success: true; present: boolean } | { success: false; error: string };

export interface NicTools {
  ip?: string;
  nsenter?: string;
  procRoot?: string;
}

/** The old sidecar's interface-name rule: at most 15 characters of `[a-zA-Z0-9_.-]`. */
export function validInterfaceName(name: string): boolean {
  return /^[a-zA-Z0-9_.-]{1,15}$/.test(name) && name !== '.' && name !== '..';
}

function stderrOf(err: unknown): string {
  const e = err as { stderr?: string; killed?: boolean; message?: string };
  if (e.killed) return 'timed out';
  const stderr = typeof e.stderr === 'string' ? e.stderr.trim() : '';
  return stderr || e.message || String(err);
}

type Fields = Record<string, unknown>;

/** The old sidecar's validation, in its order and words. */
function parse(fields: Fields): { ok: true; ifname: string; pid: number } | { ok: false; error: string } {
  const ifname = fields.host_interface;
  if (!ifname) return { ok: false, error: 'Missing host_interface' };
  if (typeof ifname !== 'string' || !validInterfaceName(ifname)) {
    return { ok: false, error: `Invalid interface name: ${String(ifname)}` };
  }
  const raw = fields.container_pid;
  if (raw === undefined || raw === null || raw === '') return { ok: false, error: 'Missing container_pid' };
  const pid = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isInteger(pid) || pid <= 0) return { ok: false, error: `Invalid container_pid: ${String(raw)}` };
  return { ok: true, ifname, pid };
}

export class NicMover {
  private readonly ip: string;
  private readonly nsenter: string;
  private readonly procRoot: string;

  constructor(tools: NicTools = {}) {
    this.ip = tools.ip ?? 'ip';
    this.nsenter = tools.nsenter ?? 'nsenter';
    this.procRoot = tools.procRoot ?? '/proc';
  }

  private run(args: string[]): Promise<unknown> {
    return execFileAsync(this.ip, args, { timeout: COMMAND_TIMEOUT_MS });
  }

  private inside(pid: number, args: string[]): Promise<unknown> {
    return execFileAsync(this.nsenter, ['-t', String(pid), '-n', '--', this.ip, ...args], {
      timeout: COMMAND_TIMEOUT_MS,
    });
  }

  private async onHost(ifname: string): Promise<boolean> {
    return this.run(['link', 'show', 'dev', ifname]).then(
      () => true,
      () => false,
    );
  }

  private async insideOf(pid: number, ifname: string): Promise<boolean> {
    return this.inside(pid, ['link', 'show', 'dev', ifname]).then(
      () => true,
      () => false,
    );
  }

  async move(fields: Fields): Promise<NicResult> {
    const parsed = parse(fields);
    if (!parsed.ok) return { success: false, error: parsed.error };
    const { ifname, pid } = parsed;
    const why = await notARuntimeContainer(pid, this.procRoot);
    if (why) return { success: false, error: refusedTarget('move_nic_to_container', pid, why) };
    // Repeating a move that was done (reconciliation after a crash) only brings the link up again.
    if (!(await this.onHost(ifname))) {
      if (await this.insideOf(pid, ifname)) {
        await this.inside(pid, ['link', 'set', 'dev', ifname, 'up']).catch(() => undefined);
        return { success: true };
      }
      return { success: false, error: `Failed to move NIC: interface ${ifname} is not on the host` };
    }
    try {
      await this.run(['link', 'set', 'dev', ifname, 'down']);
      await this.run(['link', 'set', 'dev', ifname, 'netns', String(pid)]);
      await this.inside(pid, ['link', 'set', 'dev', ifname, 'up']);
    } catch (err) {
      // Half a move leaves the port down on the host: bring it back up so it is not lost to the host either.
      if (await this.onHost(ifname)) await this.run(['link', 'set', 'dev', ifname, 'up']).catch(() => undefined);
      return { success: false, error: `Failed to move NIC: ${stderrOf(err)}` };
    }
    return { success: true };
  }

  async giveBack(fields: Fields): Promise<NicResult> {
    const parsed = parse(fields);
    if (!parsed.ok) return { success: false, error: parsed.error };
    const { ifname, pid } = parsed;
    if (await this.onHost(ifname)) {
      await this.run(['link', 'set', 'dev', ifname, 'up']).catch(() => undefined);
      return { success: true };
    }
    const why = await notARuntimeContainer(pid, this.procRoot);
    if (why) return { success: false, error: refusedTarget('return_nic_to_host', pid, why) };
    try {
      await this.inside(pid, ['link', 'set', 'dev', ifname, 'down']).catch(() => undefined);
      // `/proc/self/ns/net` of the ip process nsenter starts is the runtime's; the sidecar's own is passed by path.
      await this.inside(pid, ['link', 'set', 'dev', ifname, 'netns', `${this.procRoot}/${process.pid}/ns/net`]);
      await this.run(['link', 'set', 'dev', ifname, 'up']);
    } catch (err) {
      return { success: false, error: `Failed to return NIC: ${stderrOf(err)}` };
    }
    return { success: true };
  }

  async check(fields: Fields): Promise<NicResult> {
    const parsed = parse(fields);
    if (!parsed.ok) return { success: false, error: parsed.error };
    const why = await notARuntimeContainer(parsed.pid, this.procRoot);
    if (why) return { success: false, error: refusedTarget('check_nic_in_container', parsed.pid, why) };
    return { success: true, present: await this.insideOf(parsed.pid, parsed.ifname) };
  }
}

/**
 * WiFi vNICs through a Proxy-ARP bridge (docs/protocol.md#wifi-vnics). A WiFi station cannot carry MACVLAN (the
 * access point accepts frames only from the station's own MAC), so a runtime's WiFi vNIC is a veth pair: the runtime
 * end has the vNIC's address and its default route via the WiFi gateway, the host routes that address (/32) to the
 * host end, and the host answers ARP for it on the WiFi interface (a proxy neighbour) and forwards between the two.
 *
 * The old sidecar's commands, with these differences (each a defect of it, docs/decisions.md#wifi-vnics-go-through-a-proxy-arp-bridge):
 * - names: the host end is `veth-<10 hex of sha1(container:vnic)>` and the runtime end the first free `ethN` (N ≥ 1)
 *   inside the runtime, so two WiFi vNICs, two runtimes sharing leading characters, or a runtime that already has
 *   `eth1` never collide (the old `veth-<8 chars>`/`eth1` did);
 * - ownership: every host end carries the alias `orch-proxy-arp <ip> <wifi>`, and cleanup (one bridge or all) removes
 *   only links with that alias, with their proxy neighbour and FORWARD rules: the old `cleanup_all_proxy_arp` deleted
 *   every interface named `veth-*` and every proxy neighbour of the host;
 * - a set-up repeated for the same vNIC replaces its own bridge instead of failing on the existing pair.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { ProxyArpConfig } from './protocol.js';
import { validInterfaceName } from './nics.js';
import { notARuntimeContainer, refusedTarget } from './targets.js';
import { describeIpv4, ipv4ToInt } from './kernel-view.js';
import { prefixFromMask } from './lease.js';

const execFileAsync = promisify(execFile);
const COMMAND_TIMEOUT_MS = 5000;
/** The alias that marks a host end as ours: `orch-proxy-arp <ip> <wifi interface>`. */
export const PROXY_ARP_ALIAS = 'orch-proxy-arp';

export type ProxyArpResult =
  | { success: true; proxy_arp_config: ProxyArpConfig }
  | { success: true }
  | { success: true; veths_removed: number }
  | { success: false; error: string };

export interface ProxyArpTools {
  ip?: string;
  nsenter?: string;
  iptables?: string;
  procRoot?: string;
  /** Where `/proc/sys` is (tests may point it elsewhere). */
  sysctlRoot?: string;
}

export interface BridgeRequest {
  containerName: string;
  vnicName: string;
  pid: number;
  wifi: string;
  ip: string;
  gateway: string;
  /** Dotted mask, prefix length or `a/b`. */
  mask: string;
}

/** The host end's name of a vNIC's bridge: stable, at most 15 characters, unique per container and vNIC. */
export function hostEndName(containerName: string, vnicName: string): string {
  return `veth-${createHash('sha1').update(`${containerName}:${vnicName}`).digest('hex').slice(0, 10)}`;
}

/** Prefix length of `subnet_mask` as the old sidecar read it: `a/b` gives b, a dotted mask its bits, else a number. */
export function prefixOf(mask: string): number | undefined {
  const text = mask.trim();
  if (text.includes('/')) return prefixFromMask(text.split('/')[1] ?? '');
  return prefixFromMask(text);
}

function stderrOf(err: unknown): string {
  const e = err as { stderr?: string; killed?: boolean; message?: string };
  if (e.killed) return 'timed out';
  const stderr = typeof e.stderr === 'string' ? e.stderr.trim() : '';
  return stderr || e.message || String(err);
}

interface OwnLink {
  name: string;
  ip: string | null;
  wifi: string | null;
}

export class ProxyArpBridges {
  private readonly ip: string;
  private readonly nsenter: string;
  private readonly iptables: string;
  private readonly procRoot: string;
  private readonly sysctlRoot: string;

  constructor(
    private readonly log: Logger,
    tools: ProxyArpTools = {},
  ) {
    this.ip = tools.ip ?? 'ip';
    this.nsenter = tools.nsenter ?? 'nsenter';
    this.iptables = tools.iptables ?? 'iptables';
    this.procRoot = tools.procRoot ?? '/proc';
    this.sysctlRoot = tools.sysctlRoot ?? '/proc/sys';
  }

  private async run(args: string[]): Promise<string> {
    const { stdout } = await execFileAsync(this.ip, args, { timeout: COMMAND_TIMEOUT_MS });
    return stdout;
  }

  private async inside(pid: number, args: string[]): Promise<string> {
    const { stdout } = await execFileAsync(this.nsenter, ['-t', String(pid), '-n', '--', this.ip, ...args], {
      timeout: COMMAND_TIMEOUT_MS,
    });
    return stdout;
  }

  /** `setup_proxy_arp_bridge`: validation in the old sidecar's words, then the bridge. */
  async setupCommand(fields: Record<string, unknown>): Promise<ProxyArpResult> {
    const { container_name: name, container_pid: rawPid, parent_interface: wifi, ip_address: ip, gateway } = fields;
    if (!name || !rawPid || !wifi || !ip || !gateway) {
      return { success: false, error: 'Missing required parameters for Proxy ARP setup' };
    }
    const vnic = typeof fields.vnic_name === 'string' && fields.vnic_name !== '' ? fields.vnic_name : 'wifi';
    const pid = typeof rawPid === 'number' ? rawPid : /^\d+$/.test(String(rawPid)) ? Number(rawPid) : NaN;
    if (!Number.isInteger(pid) || pid <= 0)
      return { success: false, error: `Invalid container_pid: ${String(rawPid)}` };
    const mask = fields.subnet_mask === undefined || fields.subnet_mask === null ? '255.255.255.0' : fields.subnet_mask;
    return this.setup({
      containerName: String(name),
      vnicName: vnic,
      pid,
      wifi: String(wifi),
      ip: String(ip).split('/')[0] ?? '',
      gateway: String(gateway),
      mask: String(mask),
    });
  }

  async setup(req: BridgeRequest): Promise<ProxyArpResult> {
    const { pid, wifi, gateway } = req;
    const prefix = prefixOf(req.mask);
    if (!validInterfaceName(wifi)) return { success: false, error: `Invalid interface name: ${wifi}` };
    if (ipv4ToInt(req.ip) === undefined || ipv4ToInt(gateway) === undefined) {
      return { success: false, error: `Proxy ARP bridge setup failed: ${req.ip} or ${gateway} is not an IPv4 address` };
    }
    if (prefix === undefined || !describeIpv4(req.ip, prefix)) {
      return { success: false, error: `Proxy ARP bridge setup failed: ${req.mask} is not a subnet mask` };
    }
    const why = await notARuntimeContainer(pid, this.procRoot);
    if (why) return { success: false, error: refusedTarget('setup_proxy_arp_bridge', pid, why) };
    const host = hostEndName(req.containerName, req.vnicName);
    const temp = `vtmp-${host.slice(5)}`;
    // A repeated set-up (new lease, restarted runtime) replaces this vNIC's own bridge.
    await this.remove({ name: host, ...(await this.aliasOf(host)) });
    await this.run(['link', 'del', 'dev', temp]).catch(() => undefined);
    let inner = '';
    const step = async (what: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (err) {
        throw new Error(`${what}: ${stderrOf(err)}`);
      }
    };
    try {
      inner = await this.freeEthName(pid);
      await step('creating the veth pair', () => this.run(['link', 'add', host, 'type', 'veth', 'peer', 'name', temp]));
      await step('marking the host end', () =>
        this.run(['link', 'set', 'dev', host, 'alias', `${PROXY_ARP_ALIAS} ${req.ip} ${wifi}`]),
      );
      await step('moving the runtime end', () => this.run(['link', 'set', 'dev', temp, 'netns', String(pid)]));
      await step('naming the runtime end', () => this.inside(pid, ['link', 'set', 'dev', temp, 'name', inner]));
      await step('addressing the runtime end', () =>
        this.inside(pid, ['addr', 'add', `${req.ip}/${prefix}`, 'dev', inner]),
      );
      await step('bringing the runtime end up', () => this.inside(pid, ['link', 'set', 'dev', inner, 'up']));
      await step('routing the runtime through the WiFi gateway', () =>
        this.inside(pid, ['route', 'replace', 'default', 'via', gateway, 'dev', inner]),
      );
      await step('bringing the host end up', () => this.run(['link', 'set', 'dev', host, 'up']));
      await this.sysctl(`net/ipv4/conf/${host}/proxy_arp`, '1');
      await this.sysctl(`net/ipv4/conf/${wifi}/proxy_arp`, '1');
      await this.sysctl('net/ipv4/ip_forward', '1');
      await step('routing the address to the bridge', () =>
        this.run(['route', 'replace', `${req.ip}/32`, 'dev', host]),
      );
      await step('answering ARP for the address on the WiFi interface', () =>
        this.run(['neigh', 'replace', 'proxy', req.ip, 'dev', wifi]),
      );
      await this.forward('-I', host, wifi);
    } catch (err) {
      await this.remove({ name: host, ip: req.ip, wifi });
      await this.run(['link', 'del', 'dev', temp]).catch(() => undefined);
      return { success: false, error: `Proxy ARP bridge setup failed: ${err instanceof Error ? err.message : err}` };
    }
    this.log.info(
      { step: 'proxy_arp.up', container: req.containerName, vnic: req.vnicName, host, inner, ip: req.ip, wifi },
      'Proxy-ARP bridge set up',
    );
    return {
      success: true,
      proxy_arp_config: { veth_host: host, veth_container: inner, ip_address: req.ip, gateway, parent_interface: wifi },
    };
  }

  /** `cleanup_proxy_arp_bridge`: the vNIC's own bridge (by name, or by `veth_host` when it is one of ours). */
  async cleanupCommand(fields: Record<string, unknown>): Promise<ProxyArpResult> {
    const name = fields.container_name;
    if (!name) return { success: false, error: 'Missing container_name' };
    const vnic = typeof fields.vnic_name === 'string' && fields.vnic_name !== '' ? fields.vnic_name : undefined;
    const given =
      typeof fields.veth_host === 'string' && validInterfaceName(fields.veth_host) ? fields.veth_host : null;
    const candidates = [...new Set([vnic ? hostEndName(String(name), vnic) : null, given].filter(Boolean))] as string[];
    for (const host of candidates) {
      const own = await this.aliasOf(host);
      if (own.ip === null && own.wifi === null) continue;
      await this.remove({ name: host, ...own });
    }
    return { success: true };
  }

  /** `cleanup_all_proxy_arp`: every bridge this sidecar made, and nothing else. */
  async cleanupAll(): Promise<ProxyArpResult> {
    const own = await this.ownLinks();
    for (const link of own) await this.remove(link);
    this.log.info({ step: 'proxy_arp.cleanup_all', removed: own.length }, 'removed every Proxy-ARP bridge');
    return { success: true, veths_removed: own.length };
  }

  /** The link-layer address of a host interface ('' when it has none or is gone). */
  async macOf(name: string): Promise<string> {
    const text = await this.run(['-json', 'link', 'show', 'dev', name]).catch(() => '[]');
    const [link] = JSON.parse(text || '[]') as Array<{ address?: string }>;
    return link?.address?.toLowerCase() ?? '';
  }

  private async ownLinks(): Promise<OwnLink[]> {
    const links = JSON.parse((await this.run(['-json', 'link', 'show'])) || '[]') as Array<{
      ifname?: string;
      ifalias?: string;
    }>;
    return links.flatMap((l) => {
      const parsed = l.ifname ? parseAlias(l.ifalias) : null;
      return parsed && l.ifname ? [{ name: l.ifname, ...parsed }] : [];
    });
  }

  private async aliasOf(name: string): Promise<{ ip: string | null; wifi: string | null }> {
    const text = await this.run(['-json', 'link', 'show', 'dev', name]).catch(() => '[]');
    const [link] = JSON.parse(text || '[]') as Array<{ ifalias?: string }>;
    return parseAlias(link?.ifalias) ?? { ip: null, wifi: null };
  }

  /** Every part of one bridge, each failure ignored (a part may never have been made). */
  private async remove(link: OwnLink): Promise<void> {
    if (link.ip && link.wifi) await this.run(['neigh', 'del', 'proxy', link.ip, 'dev', link.wifi]).catch(() => {});
    if (link.wifi) await this.forward('-D', link.name, link.wifi);
    if (link.ip) await this.run(['route', 'del', `${link.ip}/32`, 'dev', link.name]).catch(() => undefined);
    if (link.ip !== null || link.wifi !== null) {
      await this.run(['link', 'del', 'dev', link.name]).catch(() => undefined);
      this.log.info({ step: 'proxy_arp.removed', host: link.name, ip: link.ip }, 'Proxy-ARP bridge removed');
    }
  }

  /**
   * FORWARD rules both ways (Docker sets the FORWARD policy to DROP); a host without iptables only gets a warning.
   * Added once (`-C` first) and deleted until none is left, so a repeated set-up never stacks rules.
   */
  private async forward(op: '-I' | '-D', host: string, wifi: string): Promise<void> {
    const iptables = (args: string[]) => execFileAsync(this.iptables, args, { timeout: COMMAND_TIMEOUT_MS });
    for (const [from, to] of [
      [host, wifi],
      [wifi, host],
    ] as const) {
      const rule = ['FORWARD', '-i', from, '-o', to, '-j', 'ACCEPT'];
      if (op === '-I') {
        const present = await iptables(['-C', ...rule]).then(
          () => true,
          () => false,
        );
        if (present) continue;
        await iptables(['-I', ...rule]).catch((err: unknown) =>
          this.log.warn({ step: 'proxy_arp.iptables', err: stderrOf(err) }, 'FORWARD rule not added'),
        );
        continue;
      }
      for (let i = 0; i < 16; i++) {
        const deleted = await iptables(['-D', ...rule]).then(
          () => true,
          () => false,
        );
        if (!deleted) break;
      }
    }
  }

  private async sysctl(key: string, value: string): Promise<void> {
    await writeFile(`${this.sysctlRoot}/${key}`, value).catch((err: unknown) =>
      this.log.warn({ step: 'proxy_arp.sysctl', key, err: stderrOf(err) }, 'sysctl not set'),
    );
  }

  /** The first `ethN` (N ≥ 1) the runtime does not have. */
  private async freeEthName(pid: number): Promise<string> {
    const links = JSON.parse((await this.inside(pid, ['-json', 'link', 'show'])) || '[]') as Array<{ ifname?: string }>;
    const taken = new Set(links.map((l) => l.ifname));
    for (let n = 1; ; n++) if (!taken.has(`eth${n}`)) return `eth${n}`;
  }
}

function parseAlias(alias: string | undefined): { ip: string | null; wifi: string | null } | null {
  if (!alias?.startsWith(`${PROXY_ARP_ALIAS} `)) return null;
  const [, ip = '', wifi = ''] = alias.split(' ');
  return {
    ip: ipv4ToInt(ip) === undefined ? null : ip,
    wifi: validInterfaceName(wifi) ? wifi : null,
  };
}

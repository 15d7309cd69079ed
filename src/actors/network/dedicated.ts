import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { InterfaceInfo, SidecarReply } from '../../../sidecar/src/protocol.js';
import type { DedicatedNicsStore } from '../../io/store/dedicatedNics.js';
import type { SidecarRequest } from '../../io/netmon/client.js';
import type { VplcSpec } from '../../model/vplc.js';
import { errorText } from '../../model/errors.js';

/**
 * Dedicated NICs (docs/protocol.md#dedicated-nics): a host network port moved into one runtime's network namespace
 * through the sidecar (`move_nic_to_container`), given back before the runtime stops (`return_nic_to_host`), and on
 * record in `dedicated_nics.json` from before the move until after the return, so that whatever dies mid-way — the
 * runtime, the agent, the sidecar — the next reconciliation knows the port and either completes the move
 * (`check_nic_in_container` first) or gives it back. A NIC is never lost:
 *
 * - a runtime that stops or dies with the port inside gives a physical port back by itself (the kernel moves it to
 *   the initial namespace when the runtime's namespace ends); its next start moves it in again;
 * - the entry of a runtime that no longer exists is given back and removed at boot (the old agent kept such entries
 *   forever and refused the port to everyone else).
 */
export interface DedicatedNicDeps {
  store: DedicatedNicsStore;
  sidecar: {
    online(): boolean;
    interfaceList(): InterfaceInfo[];
    request(command: SidecarRequest, timeoutMs?: number): Promise<SidecarReply>;
  };
  /** The runtime's main process, when it runs. */
  containers: { inspect(name: string): Promise<{ running: boolean; pid: number | null } | undefined> };
  /** `--parent-interfaces`: with it, only these ports may be dedicated; without, only the sidecar's hardware ports. */
  allowList: readonly string[] | null;
  log: Logger;
  /** How long a create waits for the sidecar's interface list (default 3 s). */
  waitMs?: number;
}

/** Python's `repr` of a list of strings, as the old agent's sentence shows the available interfaces. */
function pythonList(items: readonly string[]): string {
  return `[${items.map((i) => `'${i.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(', ')}]`;
}

export class DedicatedNics {
  constructor(private readonly deps: DedicatedNicDeps) {}

  /** The runtime this host interface is dedicated to (get_host_interfaces `dedicated_to`). */
  holder(iface: string): string | undefined {
    return this.deps.store.holder(iface);
  }

  /** Every dedicated interface by runtime. */
  all(): Map<string, string> {
    return new Map([...this.deps.store.all()].map(([name, e]) => [name, e.host_interface]));
  }

  /**
   * Whether the spec's dedicated interface may be given to it; rejects with the old agent's sentences (in its
   * order), then ours: the port must be one the engineer allowed, as for vNIC parents.
   */
  async check(spec: VplcSpec): Promise<void> {
    const iface = spec.dedicatedInterface;
    if (iface === undefined) return;
    // A repeated create (after a crash mid-move) finds the port already inside its runtime: it is on record.
    const recorded = this.deps.store.get(spec.name) === iface;
    const interfaces = await this.reported();
    const found = interfaces.find((i) => i.interface === iface);
    if (!found && !recorded) {
      throw new Error(
        `Interface '${iface}' not found on host. Available interfaces: ${pythonList(interfaces.map((i) => i.interface).sort())}`,
      );
    }
    if (found?.type === 'wifi') {
      throw new Error(
        `Interface '${iface}' is a WiFi interface. Dedicated NIC assignment requires a physical Ethernet interface.`,
      );
    }
    const holder = this.deps.store.holder(iface);
    if (holder !== undefined && holder !== spec.name) {
      throw new Error(`Interface '${iface}' is already dedicated to container '${holder}'.`);
    }
    if (spec.vnics.some((v) => v.parent_interface === iface)) {
      throw new Error(
        `Interface '${iface}' is configured as a vNIC parent. A dedicated NIC cannot also be used for MACVLAN/Proxy ARP networking.`,
      );
    }
    const { allowList } = this.deps;
    if (allowList !== null) {
      if (!allowList.includes(iface)) {
        throw new Error(
          `dedicated_interface '${iface}' is not one of the interfaces this agent may give to vPLCs: --parent-interfaces allows ${allowList.join(', ')}; add ${iface} there (or to ORCH_PARENT_INTERFACES) to dedicate it`,
        );
      }
    } else if (found && found.physical !== true) {
      throw new Error(
        `dedicated_interface '${iface}' is not a network port of this host (it has no hardware device behind it); only a physical Ethernet port can be dedicated, or start the agent with --parent-interfaces naming ${iface}`,
      );
    }
  }

  /** The create/start step: on record first, then moved into the runtime unless it is there already. */
  async moveIn(spec: VplcSpec): Promise<void> {
    const iface = spec.dedicatedInterface;
    if (iface === undefined) return;
    const { store, log } = this.deps;
    await store.set(spec.name, iface);
    const pid = await this.runningPid(spec.name);
    if (pid === null) {
      throw new Error(`the runtime is not running, so its dedicated NIC ${iface} could not be moved into it`);
    }
    const check = await this.send({ command: 'check_nic_in_container', host_interface: iface, container_pid: pid });
    if (check.success && 'present' in check && check.present) {
      log.info({ step: 'nic.already_inside', vplc: spec.name, iface, pid }, 'dedicated NIC already inside');
      return;
    }
    const reply = await this.send({ command: 'move_nic_to_container', host_interface: iface, container_pid: pid });
    if (!reply.success) {
      throw new Error(`the network monitor could not move the dedicated NIC ${iface} into it: ${reply.error}`);
    }
    log.info({ step: 'nic.moved', vplc: spec.name, iface, pid }, 'dedicated NIC moved into the runtime');
  }

  /** Before the runtime stops: give the NIC back to the host. The entry stays (the next start moves it in again). */
  async giveBack(spec: VplcSpec): Promise<void> {
    const iface = spec.dedicatedInterface ?? this.deps.store.get(spec.name);
    if (iface === undefined) return;
    const pid = await this.runningPid(spec.name);
    // Not running: the kernel gave a physical port back when the runtime's namespace ended.
    if (pid === null) return;
    const reply = await this.send({ command: 'return_nic_to_host', host_interface: iface, container_pid: pid });
    if (!reply.success) throw new Error(`the network monitor could not give ${iface} back to the host: ${reply.error}`);
    this.deps.log.info({ step: 'nic.returned', vplc: spec.name, iface }, 'dedicated NIC back on the host');
  }

  /** The runtime is gone for good (deleted, or rolled back): its entry goes. */
  async forget(name: string): Promise<void> {
    await this.deps.store.delete(name);
  }

  /**
   * Self-destruct's "return every dedicated NIC to the host": each runtime that runs gives its port back, every
   * entry is removed. Never rejects; what could not be returned is logged (the kernel returns a physical port when
   * the runtime is removed right after).
   */
  async returnAllToHost(): Promise<{ returned: string[]; failed: string[] }> {
    const returned: string[] = [];
    const failed: string[] = [];
    for (const [name, iface] of this.all()) {
      try {
        await this.giveBack({ name, vnics: [], serials: [], dedicatedInterface: iface });
        returned.push(iface);
      } catch (err) {
        failed.push(iface);
        this.deps.log.warn({ step: 'nic.return_failed', vplc: name, iface, err: errorText(err) }, 'NIC not returned');
      }
      await this.forget(name).catch((err: unknown) =>
        this.deps.log.error({ step: 'nic.forget_failed', vplc: name, err: errorText(err) }, 'entry not removed'),
      );
    }
    return { returned, failed };
  }

  /**
   * Boot: entries of runtimes this agent no longer knows are given back to the host and removed. Runtimes it knows
   * move theirs in (or find it inside) through their own lifecycle (adopting, creating).
   */
  async reconcile(known: ReadonlySet<string>): Promise<void> {
    for (const [name, iface] of this.all()) {
      if (known.has(name)) continue;
      try {
        await this.giveBack({ name, vnics: [], serials: [], dedicatedInterface: iface });
        await this.forget(name);
        this.deps.log.info({ step: 'nic.orphan_returned', vplc: name, iface }, 'dedicated NIC of a gone runtime');
      } catch (err) {
        // Kept on record: the next start tries again, and the port stays refused to others meanwhile.
        this.deps.log.warn({ step: 'nic.orphan_kept', vplc: name, iface, err: errorText(err) }, 'NIC not returned');
      }
    }
  }

  private async runningPid(name: string): Promise<number | null> {
    const facts = await this.deps.containers.inspect(name);
    return facts?.running && facts.pid ? facts.pid : null;
  }

  private async send(command: SidecarRequest): Promise<SidecarReply> {
    if (!this.deps.sidecar.online()) {
      throw new Error('the network monitor sidecar (autonomy_netmon) is not connected');
    }
    return this.deps.sidecar.request(command);
  }

  /** The sidecar's interfaces, waiting a moment for its discovery after a (re)connect. */
  private async reported(): Promise<InterfaceInfo[]> {
    const { sidecar } = this.deps;
    const deadline = Date.now() + (this.deps.waitMs ?? 3000);
    for (;;) {
      if (sidecar.online() && sidecar.interfaceList().length > 0) return sidecar.interfaceList();
      if (Date.now() >= deadline) break;
      await sleep(250);
    }
    if (!sidecar.online()) {
      throw new Error(
        'a dedicated_interface needs the network monitor sidecar (autonomy_netmon), which is not connected; start it and create the vPLC again',
      );
    }
    return sidecar.interfaceList();
  }
}

import type { Logger } from 'pino';
import type { JournalEntry, JournalFile, JournalSpec } from '../../io/store/journal.js';
import {
  type ClientsFile,
  type RuntimeVnicsFile,
  type SerialConfigsFile,
  type SerialPortRecord,
  VNIC_ENRICHMENT_KEYS,
  type VnicRecord,
} from '../../io/store/referenceFiles.js';
import type { LoadedState, StateStore } from '../../io/store/stateStore.js';
import type { VnicConfig, VplcSpec } from '../../model/vplc.js';
import type { LeaseBook } from '../network/leases.js';
import type { SerialPortState } from '../serial/passthrough.js';
import type { VplcStatus } from '../vplc/supervisor.js';
import { vnicNetwork } from '../../model/names.js';

/**
 * Keeps the files in step with the running system: the three files the old agent also reads
 * (docs/protocol.md#files-on-disk) and the intent journal.
 * Fed by the supervisor's `onChange`, by DHCP leases and by serial device changes; every file has one writer
 * (StateStore) and is rewritten atomically whenever its content changes.
 *
 * - `clients.json`: `{name: {ip, name}}` once the runtime's internal IP is known (refreshed on every run; the old
 *   agent never refreshed it).
 * - `runtime_vnics.json`: the vNIC objects exactly as received, plus `mac_address`/`docker_network_name` from
 *   the engine and `dhcp_ip`/`dhcp_gateway`/`dhcp_dns` from leases; written once the runtime has a container.
 * - `serial_configs.json`: the configured ports with their device status, for runtimes that have any.
 * - `journal.json`: every vPLC's spec, desired state and the operation in flight with its step.
 * Everything about a vPLC is removed when it is deleted, and when a failed create has been rolled back.
 */

/**
 * TEST HOOK (fault injection for the crash-recovery tests, never set in production): `<operation>:<step>[@<vplc>]`,
 * e.g. `create:networks@t9-c1`. When the journal has durably recorded that step, the agent kills itself with
 * SIGKILL, exactly like a power cut at that point.
 */
export interface FaultPoint {
  operation: string;
  step: string;
  vplc: string | null;
}

export function parseFaultPoint(text: string | undefined): FaultPoint | null {
  if (!text) return null;
  const m = /^([a-z]+):([A-Za-z]+)(?:@(.+))?$/.exec(text.trim());
  if (!m) throw new Error(`ORCH_FAULT_KILL_AT must look like <operation>:<step>[@<vplc>], got "${text}"`);
  return { operation: m[1]!, step: m[2]!, vplc: m[3] ?? null };
}

export interface RecordsOptions {
  store: StateStore;
  loaded: LoadedState;
  log: Logger;
  /** The runtime container's networks (for `mac_address` / `docker_network_name`); undefined when it is gone. */
  inspect: (name: string) => Promise<{ networks: Record<string, { mac: string | null }> } | undefined>;
  leases: LeaseBook;
  /** Serial passthrough state per vPLC and port (connected, disconnected, error). */
  serialState?: (vplc: string, port: string) => SerialPortState | undefined;
  now?: () => Date;
  faultKillAt?: FaultPoint | null;
  /** How the fault hook kills the process (tests of the hook replace it). */
  kill?: () => void;
}

type EntryCore = Omit<JournalEntry, 'updatedAt'>;

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The vNIC as received: the record minus the keys the agent added (docs/protocol.md#runtime_vnicsjson). */
export function receivedVnic(record: Record<string, unknown>): VnicConfig {
  const copy: Record<string, unknown> = { ...record };
  for (const key of VNIC_ENRICHMENT_KEYS) delete copy[key];
  return copy as VnicConfig;
}

function enrichment(record: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!record) return out;
  for (const key of VNIC_ENRICHMENT_KEYS) if (key in record) out[key] = record[key];
  return out;
}

export class Records {
  private readonly store: StateStore;
  private readonly log: Logger;
  private readonly opts: RecordsOptions;
  private readonly now: () => Date;
  private readonly clients: ClientsFile;
  private readonly vnics: RuntimeVnicsFile;
  private readonly serials: SerialConfigsFile;
  private readonly journal: JournalFile;
  private readonly interruptions = new Map<string, number>();
  /** Per vPLC: the container run whose MACs were last read, so they are read once per run. */
  private readonly macsReadFor = new Map<string, string>();
  private readonly dirty = { clients: false, vnics: false, serials: false, journal: false };
  private killing = false;

  constructor(opts: RecordsOptions) {
    this.opts = opts;
    this.store = opts.store;
    this.log = opts.log;
    this.now = opts.now ?? (() => new Date());
    // Copies, so that what was read at start stays as it was read (reconciliation reads it). Maps throughout: the
    // names are the cloud's, and as object keys `constructor` or `__proto__` would hit Object's built-ins.
    const loaded = opts.loaded;
    this.clients = new Map(loaded.clients);
    this.vnics = new Map([...loaded.runtimeVnics].map(([name, list]) => [name, structuredClone(list)]));
    this.serials = new Map([...loaded.serialConfigs].map(([name, entry]) => [name, structuredClone(entry)]));
    this.journal = {
      version: loaded.journal.version,
      vplcs: new Map([...loaded.journal.vplcs].map(([name, entry]) => [name, structuredClone(entry)])),
    };
    for (const [name, e] of this.journal.vplcs) this.interruptions.set(name, e.interruptions);
    // Files set aside as corrupt are rewritten from what the agent rebuilds, even if nothing changes later; missing
    // ones are written at once, so the files always exist and say what the agent knows.
    const corrupt = new Set([...opts.loaded.corrupt, ...opts.loaded.missing]);
    const paths = opts.store.paths;
    this.dirty.clients = corrupt.has(paths.clients);
    this.dirty.vnics = corrupt.has(paths.runtimeVnics);
    this.dirty.serials = corrupt.has(paths.serialConfigs);
    this.dirty.journal = corrupt.has(paths.journal);
  }

  /** Follow every vPLC of the supervisor; returns the unsubscribe function. */
  follow(supervisor: { onChange(listener: (status: VplcStatus) => void): () => void }): () => void {
    this.persist();
    return supervisor.onChange((status) => this.observe(status));
  }

  /** The journal entry of a vPLC as the agent last recorded it. */
  journalEntry(name: string): JournalEntry | undefined {
    return this.journal.vplcs.get(name);
  }

  /**
   * Boot reconciliation found this vPLC's operation in flight once more: remember it, so the next entries of this
   * operation carry the count. Returns the new count.
   */
  noteInterrupted(name: string): number {
    const n = (this.interruptions.get(name) ?? 0) + 1;
    this.interruptions.set(name, n);
    const entry = this.journal.vplcs.get(name);
    if (entry) {
      entry.interruptions = n;
      this.dirty.journal = true;
      this.persist();
    }
    return n;
  }

  /** A vPLC's status changed. */
  observe(status: VplcStatus): void {
    const name = status.name;
    const rolledBackCreate = status.phase === 'failed' && status.operation === 'create' && status.containerId === null;
    if (status.phase === 'deleted' || rolledBackCreate) {
      this.forget(name);
      return;
    }
    const journaled = this.recordIntent(status);
    if (status.containerId !== null || this.vnics.has(name)) this.recordRuntime(status);
    this.persist();
    if (journaled) void this.maybeKill(status);
  }

  /** The agent joined a runtime's internal network: clients.json keeps its address there (refreshed every run). */
  onInternalAddress(name: string, ip: string | null): void {
    if (!ip || this.clients.get(name)?.ip === ip || !this.journal.vplcs.has(name)) return;
    this.clients.set(name, { ip, name });
    this.dirty.clients = true;
    this.persist();
  }

  /** The sidecar reported a lease for one vNIC: mirror it into runtime_vnics.json. */
  onLease(name: string, vnicName: string): void {
    const list = this.vnics.get(name);
    const lease = this.opts.leases.get(name, vnicName);
    if (!list || !lease) return;
    const index = list.findIndex((v) => v.name === vnicName);
    const current = list[index];
    if (!current) return;
    const bridge = this.opts.leases.bridge(name, vnicName);
    const next: VnicRecord = {
      ...current,
      dhcp_ip: lease.ip,
      dhcp_gateway: lease.gateway ?? '',
      dhcp_dns: lease.dns.join(' '),
      // The old agent's record of a WiFi vNIC's bridge (docs/protocol.md#wifi-vnics).
      ...(bridge ? { _proxy_arp_config: { ...bridge } } : {}),
    };
    if (sameJson(next, current)) return;
    this.vnics.set(
      name,
      list.map((v, i) => (i === index ? next : v)),
    );
    this.dirty.vnics = true;
    this.persist();
  }

  /** A runtime's MACVLAN endpoints moved (subnet change): re-read `docker_network_name` / `mac_address` now. */
  onNetworksMoved(name: string): Promise<void> {
    return this.readMacs(name);
  }

  /** Serial passthrough changed a port's state: refresh every port's record. */
  onSerialDevices(): void {
    for (const name of this.serials.keys()) {
      const spec = this.journal.vplcs.get(name)?.spec;
      if (spec) this.recordSerials(name, spec.serials);
    }
    this.persist();
  }

  /** Drop everything about a vPLC (deleted, or a create rolled back). */
  forget(name: string): void {
    if (this.clients.delete(name)) this.dirty.clients = true;
    if (this.vnics.delete(name)) this.dirty.vnics = true;
    if (this.serials.delete(name)) this.dirty.serials = true;
    if (this.journal.vplcs.delete(name)) this.dirty.journal = true;
    this.interruptions.delete(name);
    this.macsReadFor.delete(name);
    this.persist();
  }

  /** Self-destruct: forget every record on disk (the old agent left them, and they came back on the next install). */
  async clear(): Promise<void> {
    for (const name of new Set([
      ...this.clients.keys(),
      ...this.vnics.keys(),
      ...this.serials.keys(),
      ...this.journal.vplcs.keys(),
    ])) {
      this.forget(name);
    }
    this.dirty.clients = this.dirty.vnics = this.dirty.serials = this.dirty.journal = true;
    this.persist();
    await this.flush();
  }

  /**
   * Resolves once the journal, as the latest vPLC change left it, is durable on disk; rejects with a sentence when
   * it could not be written (a full disk, a read-only data dir). An engine step starts only after this, so that an
   * agent killed mid-step always finds the step in its journal.
   */
  async journalDurable(): Promise<void> {
    // The status change that starts a step reaches `observe` in the same turn; let it queue its write first.
    await Promise.resolve();
    if (await this.journalWrite) return;
    const why = this.store.journal.lastError ?? 'unknown error';
    throw new Error(
      `could not record the operation in ${this.store.journal.file} (${why}); free disk space in the data directory or make it writable, then retry`,
    );
  }

  /** Resolves once every change so far is on disk (or its write failed and was logged). */
  async flush(): Promise<void> {
    await this.store.flush();
  }

  // ---------------------------------------------------------------- internals

  private recordIntent(status: VplcStatus): boolean {
    const name = status.name;
    const operation = status.phase === 'failed' ? null : status.operation;
    if (operation === null) this.interruptions.delete(name);
    const core: EntryCore = {
      spec: toJournalSpec(status.spec),
      desired: status.desired,
      operation,
      state: status.state,
      failure: status.failure?.reason ?? null,
      interruptions: operation === null ? 0 : (this.interruptions.get(name) ?? 0),
    };
    const previous = this.journal.vplcs.get(name);
    if (previous) {
      const { updatedAt: _ignored, ...before } = previous;
      if (sameJson(before, core)) return false;
    }
    this.journal.vplcs.set(name, { ...core, updatedAt: this.now().toISOString() });
    this.dirty.journal = true;
    return true;
  }

  private recordRuntime(status: VplcStatus): void {
    const name = status.name;
    const existing = this.vnics.get(name);
    const byName = new Map((existing ?? []).map((r) => [r.name, r]));
    const wanted: VnicRecord[] = status.spec.vnics.map((v) => ({
      ...(v as VnicRecord),
      ...enrichment(byName.get(v.name)),
    }));
    if (!existing || !sameJson(existing.map(receivedVnic), status.spec.vnics)) {
      this.vnics.set(name, wanted);
      this.dirty.vnics = true;
    }
    if (status.spec.serials.length > 0) this.recordSerials(name, status.spec.serials);
    else if (this.serials.delete(name)) this.dirty.serials = true;
    const run = `${status.containerId}|${status.startedAt}`;
    if (status.containerId !== null && this.macsReadFor.get(name) !== run) {
      this.macsReadFor.set(name, run);
      void this.readMacs(name);
    }
  }

  private recordSerials(name: string, ports: VplcSpec['serials']): void {
    const wanted: SerialPortRecord[] = ports.map((p) => {
      // What passthrough did: connected only when the node exists in the runtime.
      const state = this.opts.serialState?.(name, p.name);
      const device = state?.status === 'connected' ? state.device : null;
      return {
        name: p.name,
        device_id: p.device_id,
        container_path: p.container_path,
        status: state?.status ?? 'disconnected',
        current_host_path: device?.path ?? null,
        major: device?.major ?? null,
        minor: device?.minor ?? null,
      };
    });
    if (!sameJson(this.serials.get(name)?.serial_ports, wanted)) {
      this.serials.set(name, { serial_ports: wanted });
      this.dirty.serials = true;
    }
  }

  /** Docker's MAC and network name of every MACVLAN endpoint, per vNIC (`mac_address`, `docker_network_name`). */
  private async readMacs(name: string): Promise<void> {
    let facts: Awaited<ReturnType<RecordsOptions['inspect']>>;
    try {
      facts = await this.opts.inspect(name);
    } catch (err) {
      this.log.warn({ step: 'records.inspect_failed', vplc: name, err }, 'could not read the MACs of a runtime');
      this.macsReadFor.delete(name);
      return;
    }
    const list = this.vnics.get(name);
    if (!facts || !list) return;
    let changed = false;
    const next = list.map((record) => {
      const found = vnicNetwork(facts.networks, record.parent_interface);
      if (!found) return record;
      const [network, endpoint] = found;
      const updated: VnicRecord = { ...record, docker_network_name: network };
      if (endpoint.mac) updated.mac_address = endpoint.mac;
      const ordered = { ...receivedVnic(updated), ...enrichment(updated) } as VnicRecord;
      if (!sameJson(ordered, record)) changed = true;
      return ordered;
    });
    if (!changed) return;
    this.vnics.set(name, next);
    this.dirty.vnics = true;
    this.persist();
  }

  private persist(): void {
    const { store } = this;
    // Snapshots: a write is formatted later, and the records go on changing meanwhile. Entries are replaced, never
    // changed in place (except a journal entry's interruption count), so copying the Maps is enough for all but
    // the journal.
    if (this.dirty.clients) void store.clients.write(new Map(this.clients));
    if (this.dirty.vnics) void store.runtimeVnics.write(new Map(this.vnics));
    if (this.dirty.serials) void store.serialConfigs.write(new Map(this.serials));
    this.dirty.clients = this.dirty.vnics = this.dirty.serials = false;
    if (this.dirty.journal) {
      const vplcs = new Map([...this.journal.vplcs].map(([name, entry]) => [name, { ...entry }]));
      this.journalWrite = store.journal.write({ version: this.journal.version, vplcs });
      this.dirty.journal = false;
    }
  }

  private journalWrite: Promise<boolean> = Promise.resolve(true);

  private async maybeKill(status: VplcStatus): Promise<void> {
    const point = this.opts.faultKillAt;
    if (!point || this.killing) return;
    if (status.operation !== point.operation || status.step !== point.step) return;
    if (point.vplc !== null && point.vplc !== status.name) return;
    this.killing = true;
    const durable = await this.journalWrite;
    this.log.warn(
      { step: 'fault.kill', at: `${point.operation}:${point.step}`, vplc: status.name, durable },
      'TEST HOOK ORCH_FAULT_KILL_AT reached: killing the agent with SIGKILL',
    );
    (this.opts.kill ?? (() => process.kill(process.pid, 'SIGKILL')))();
  }
}

function toJournalSpec(spec: VplcSpec): JournalSpec {
  return {
    name: spec.name,
    vnics: spec.vnics.map((v) => ({ ...v }) as VnicRecord),
    serials: spec.serials.map((s) => ({ ...s })),
    ...(spec.runtimeVersion !== undefined ? { runtimeVersion: spec.runtimeVersion } : {}),
    ...(spec.dedicatedInterface ? { dedicated_interface: spec.dedicatedInterface } : {}),
  };
}

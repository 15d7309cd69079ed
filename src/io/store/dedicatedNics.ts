import { join } from 'node:path';
import type { Logger } from 'pino';
import { readJsonFile, writeFileAtomic } from './atomicFile.js';
import { objectOf, pythonJson } from './referenceFiles.js';

/**
 * `<data>/dedicated_nics.json`, the old agent's record of dedicated NICs (docs/protocol.md#dedicated-nics): runtime
 * name → `{"host_interface": "<if>"}`, 2-space JSON. Written atomically and durably before every move and after every
 * return (the old agent rewrote it in place), so a NIC inside a runtime is always on record and reconciliation after
 * a crash knows where every one is. Read into a Map: the names come from outside (referenceFiles.ts says why).
 */
export type DedicatedNicsFile = Map<string, { host_interface: string }>;

export function dedicatedNicsPath(dataDir: string): string {
  return join(dataDir, 'dedicated_nics.json');
}

/** Entries without a non-empty `host_interface` are skipped (the old agent dropped the whole file for one). */
export function parseDedicatedNics(raw: unknown): DedicatedNicsFile {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('not a JSON object');
  const map: DedicatedNicsFile = new Map();
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    const iface = (entry as { host_interface?: unknown } | null)?.host_interface;
    if (typeof iface === 'string' && iface.trim() !== '') map.set(name, { host_interface: iface });
  }
  return map;
}

export const formatDedicatedNics = (value: DedicatedNicsFile): string => pythonJson(objectOf(value), 2);

export class DedicatedNicsStore {
  private entries: DedicatedNicsFile = new Map();
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly log: Logger,
  ) {}

  async load(): Promise<DedicatedNicsFile> {
    const outcome = await readJsonFile(this.path, parseDedicatedNics, { log: this.log });
    this.entries = outcome.kind === 'ok' ? outcome.value : new Map();
    return new Map(this.entries);
  }

  all(): DedicatedNicsFile {
    return new Map(this.entries);
  }

  get(name: string): string | undefined {
    return this.entries.get(name)?.host_interface;
  }

  /** The runtime a host interface is dedicated to. */
  holder(iface: string): string | undefined {
    for (const [name, entry] of this.entries) if (entry.host_interface === iface) return name;
    return undefined;
  }

  /** Record (or change) an entry; resolves once it is on disk. */
  set(name: string, iface: string): Promise<void> {
    if (this.entries.get(name)?.host_interface === iface) return this.writing;
    this.entries.set(name, { host_interface: iface });
    return this.write();
  }

  delete(name: string): Promise<void> {
    if (!this.entries.has(name)) return this.writing;
    this.entries.delete(name);
    return this.write();
  }

  /** Writes are serialised, each the whole current content. */
  private write(): Promise<void> {
    const next = this.writing
      .catch(() => undefined)
      .then(() => writeFileAtomic(this.path, formatDedicatedNics(this.entries)));
    this.writing = next;
    return next;
  }
}

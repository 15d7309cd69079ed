import { CorruptFile } from './atomicFile.js';
import { isVnicRecord, objectOf, type VnicRecord } from './referenceFiles.js';

/**
 * The agent's intent journal (`<data>/data/journal.json`): for every vPLC, what it should be (its spec and desired
 * state) and the operation in flight with its step. Written atomically before/while each step runs, so that after
 * a crash, a power cut or a kill the next start knows what was going on and finishes or rolls it back (the old
 * agent kept operation states in RAM only). Its three files cannot carry this: their format is fixed.
 */

export const JOURNAL_VERSION = 1;

/** A vPLC's spec as stored: vNIC and serial objects kept verbatim, unknown keys included. */
export interface JournalSpec {
  name: string;
  vnics: VnicRecord[];
  serials: Array<Record<string, unknown> & { name: string; device_id: string; container_path: string }>;
  /** `runtime_version` of the create, when one was given. */
  runtimeVersion?: string;
  /** The dedicated NIC (`dedicated_interface`), when one was asked for. */
  dedicated_interface?: string;
}

export interface JournalEntry {
  spec: JournalSpec;
  desired: 'running' | 'stopped';
  /** The cloud operation in flight (`create`, `start`, `stop`, `restart`, `delete`), or null at rest. */
  operation: string | null;
  /** The lifecycle state, dotted (`creating.networks`, `running`, `failed`). */
  state: string;
  /** Why it sits in `failed`, when it does. */
  failure: string | null;
  /** How many starts of the agent found this operation in flight (a create that kills the agent is not retried forever). */
  interruptions: number;
  updatedAt: string;
}

export interface JournalFile {
  version: number;
  /** By vPLC name: a Map, since a name from outside may be `constructor` or `__proto__` (see referenceFiles.ts). */
  vplcs: Map<string, JournalEntry>;
}

export const emptyJournal = (): JournalFile => ({ version: JOURNAL_VERSION, vplcs: new Map() });

export const formatJournal = (value: JournalFile): string =>
  `${JSON.stringify({ version: value.version, vplcs: objectOf(value.vplcs) }, null, 2)}\n`;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isSerial(v: unknown): v is JournalSpec['serials'][number] {
  return (
    isRecord(v) && typeof v.name === 'string' && typeof v.device_id === 'string' && typeof v.container_path === 'string'
  );
}

function entry(name: string, v: unknown): JournalEntry | undefined {
  if (!isRecord(v) || !isRecord(v.spec)) return undefined;
  const { vnics, serials } = v.spec;
  if (!Array.isArray(vnics) || !vnics.every(isVnicRecord)) return undefined;
  if (!Array.isArray(serials) || !serials.every(isSerial)) return undefined;
  if (v.desired !== 'running' && v.desired !== 'stopped') return undefined;
  const { runtimeVersion } = v.spec;
  const dedicated = typeof v.spec.dedicated_interface === 'string' ? v.spec.dedicated_interface : undefined;
  return {
    spec: {
      name,
      vnics,
      serials,
      ...(typeof runtimeVersion === 'string' ? { runtimeVersion } : {}),
      ...(dedicated ? { dedicated_interface: dedicated } : {}),
    },
    desired: v.desired,
    operation: typeof v.operation === 'string' ? v.operation : null,
    state: typeof v.state === 'string' ? v.state : 'unknown',
    failure: typeof v.failure === 'string' ? v.failure : null,
    interruptions: typeof v.interruptions === 'number' && v.interruptions >= 0 ? Math.floor(v.interruptions) : 0,
    updatedAt: typeof v.updatedAt === 'string' ? v.updatedAt : '',
  };
}

export function parseJournal(raw: unknown): { value: JournalFile; skipped: string[] } {
  if (!isRecord(raw) || !isRecord(raw.vplcs)) throw new CorruptFile('journal.json must hold {"version", "vplcs"}');
  if (raw.version !== JOURNAL_VERSION) {
    throw new CorruptFile(
      `journal.json has version ${String(raw.version)}; this agent reads version ${JOURNAL_VERSION}`,
    );
  }
  const value = emptyJournal();
  const skipped: string[] = [];
  for (const [name, v] of Object.entries(raw.vplcs)) {
    const parsed = entry(name, v);
    if (parsed) value.vplcs.set(name, parsed);
    else skipped.push(name);
  }
  return { value, skipped };
}

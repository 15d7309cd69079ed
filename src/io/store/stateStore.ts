import { readdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { readJsonFile } from './atomicFile.js';
import { FileWriter } from './fileWriter.js';
import { emptyJournal, formatJournal, type JournalFile, parseJournal } from './journal.js';
import {
  type ClientsFile,
  formatClients,
  formatRuntimeVnics,
  formatSerialConfigs,
  type Parsed,
  parseClients,
  parseRuntimeVnics,
  parseSerialConfigs,
  type RuntimeVnicsFile,
  type SerialConfigsFile,
  type StorePaths,
  storePaths,
} from './referenceFiles.js';

/** What was on disk at start. Corrupt files count as empty (they were set aside) and are listed in `corrupt`. */
export interface LoadedState {
  clients: ClientsFile;
  runtimeVnics: RuntimeVnicsFile;
  serialConfigs: SerialConfigsFile;
  journal: JournalFile;
  /** Paths of files that were corrupt and set aside (their content must be rebuilt from Docker). */
  corrupt: string[];
  /** Paths of files that did not exist (first start). */
  missing: string[];
}

/**
 * The agent's files: read once at start, then each written by its own single writer (the old agent wrote them from
 * several threads and lost updates). Nothing else in the agent opens these paths.
 */
export class StateStore {
  readonly paths: StorePaths;
  readonly clients: FileWriter<ClientsFile>;
  readonly runtimeVnics: FileWriter<RuntimeVnicsFile>;
  readonly serialConfigs: FileWriter<SerialConfigsFile>;
  readonly journal: FileWriter<JournalFile>;

  private constructor(paths: StorePaths, log: Logger) {
    this.paths = paths;
    this.clients = new FileWriter({ path: paths.clients, format: formatClients, log });
    this.runtimeVnics = new FileWriter({ path: paths.runtimeVnics, format: formatRuntimeVnics, log });
    this.serialConfigs = new FileWriter({ path: paths.serialConfigs, format: formatSerialConfigs, log });
    this.journal = new FileWriter({ path: paths.journal, format: formatJournal, log });
  }

  static async open(dataDir: string, log: Logger): Promise<{ store: StateStore; loaded: LoadedState }> {
    const paths = storePaths(dataDir);
    await removeStaleTemps([paths.clients, paths.runtimeVnics, paths.serialConfigs, paths.journal], log);
    const corrupt: string[] = [];
    const missing: string[] = [];
    async function load<T>(path: string, parse: (raw: unknown) => Parsed<T>, empty: () => T): Promise<T> {
      const outcome = await readJsonFile(path, parse, { log });
      if (outcome.kind === 'missing') {
        missing.push(path);
        return empty();
      }
      if (outcome.kind === 'corrupt') {
        corrupt.push(path);
        return empty();
      }
      if (outcome.value.skipped.length > 0) {
        log.warn(
          { step: 'store.entries_skipped', file: path, entries: outcome.value.skipped },
          'persisted file has malformed entries; they are ignored and rebuilt from Docker',
        );
      }
      return outcome.value.value;
    }
    const [clients, runtimeVnics, serialConfigs, journal] = await Promise.all([
      load(paths.clients, parseClients, () => new Map()),
      load(paths.runtimeVnics, parseRuntimeVnics, () => new Map()),
      load(paths.serialConfigs, parseSerialConfigs, () => new Map()),
      load(paths.journal, parseJournal, emptyJournal),
    ]);
    return {
      store: new StateStore(paths, log),
      loaded: { clients, runtimeVnics, serialConfigs, journal, corrupt, missing },
    };
  }

  async flush(): Promise<void> {
    await Promise.all([
      this.clients.flush(),
      this.runtimeVnics.flush(),
      this.serialConfigs.flush(),
      this.journal.flush(),
    ]);
  }

  close(): void {
    for (const w of [this.clients, this.runtimeVnics, this.serialConfigs, this.journal]) w.close();
  }
}

/**
 * Temporary files a killed agent left beside its files (`<file>.tmp-<pid>-<n>`, never renamed into place): they hold
 * nothing the files lack and would otherwise pile up on the data disk, one per interrupted write.
 */
async function removeStaleTemps(files: readonly string[], log: Logger): Promise<void> {
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const base = name.replace(/\.tmp-\d+-\d+$/, '');
      if (base === name || !files.includes(join(dir, base))) continue;
      await unlink(join(dir, name)).then(
        () => log.info({ step: 'store.stale_temp_removed', file: join(dir, name) }, 'removed a stale temporary file'),
        () => undefined,
      );
    }
  }
}

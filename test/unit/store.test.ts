import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readJsonFile, setAsideName, writeFileAtomic } from '../../src/io/store/atomicFile.js';
import { FileWriter } from '../../src/io/store/fileWriter.js';
import { emptyJournal, formatJournal, parseJournal } from '../../src/io/store/journal.js';
import {
  formatClients,
  formatRuntimeVnics,
  formatSerialConfigs,
  parseClients,
  parseRuntimeVnics,
  parseSerialConfigs,
  pythonJson,
  storePaths,
} from '../../src/io/store/referenceFiles.js';
import { StateStore } from '../../src/io/store/stateStore.js';
import { waitFor } from '../support/wait.js';

const log = pino({ level: 'silent' });
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'store-test-'));
});
afterEach(async () => {
  await chmod(dir, 0o755).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe('atomic files', () => {
  it('replaces the whole file and leaves no temporary file behind', async () => {
    const path = join(dir, 'sub', 'f.json');
    await writeFileAtomic(path, 'first');
    await writeFileAtomic(path, 'second');
    expect(await readFile(path, 'utf8')).toBe('second');
    expect(await readdir(join(dir, 'sub'))).toEqual(['f.json']);
  });

  it('sets a truncated file aside as <name>.corrupt-<time> and reports it', async () => {
    const path = join(dir, 'clients.json');
    await writeFile(path, '{"a": {"ip": "172.1');
    const at = new Date('2026-01-20T10:00:00.000Z');
    const outcome = await readJsonFile(path, parseClients, { log, now: () => at });
    expect(outcome).toMatchObject({ kind: 'corrupt', movedTo: setAsideName(path, at) });
    expect(setAsideName(path, at)).toBe(`${path}.corrupt-2026-01-20T10-00-00.000Z`);
    expect(await readFile(setAsideName(path, at), 'utf8')).toBe('{"a": {"ip": "172.1');
    expect(await readdir(dir)).toEqual(['clients.json.corrupt-2026-01-20T10-00-00.000Z']);
  });

  it('treats a JSON file of the wrong shape as corrupt, and a missing one as empty', async () => {
    const path = join(dir, 'runtime_vnics.json');
    await writeFile(path, '[1, 2]');
    expect((await readJsonFile(path, parseRuntimeVnics, { log })).kind).toBe('corrupt');
    expect(await readJsonFile(join(dir, 'none.json'), parseRuntimeVnics, { log })).toEqual({ kind: 'missing' });
  });
});

describe('the single writer of a file', () => {
  it('coalesces a burst: the file ends with the last value after at most two writes', async () => {
    const path = join(dir, 'f.json');
    let formatted = 0;
    const writer = new FileWriter<number>({
      path,
      log,
      format: (v) => {
        formatted++;
        return String(v);
      },
    });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => writer.write(i)));
    expect(results.every(Boolean)).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('199');
    expect(formatted).toBeLessThanOrEqual(2);
  });

  it('retries a failed write until it succeeds, with the newest value', async () => {
    const blocker = join(dir, 'blocked');
    await writeFile(blocker, 'a file where a directory must be');
    const path = join(blocker, 'f.json');
    const writer = new FileWriter<string>({ path, log, format: (v) => v, retryMs: 20, maxRetryMs: 40 });
    expect(await writer.write('one')).toBe(false);
    void writer.write('two');
    await rm(blocker);
    await mkdir(blocker);
    await waitFor(async () => (await readFile(path, 'utf8').catch(() => '')) === 'two', { message: 'retried write' });
    writer.close();
  });
});

describe("the old agent's file formats", () => {
  it('writes clients.json like Python json.dump(indent=4)', () => {
    expect(formatClients(new Map([['3f1c', { ip: '172.19.0.2', name: '3f1c' }]]))).toBe(
      '{\n    "3f1c": {\n        "ip": "172.19.0.2",\n        "name": "3f1c"\n    }\n}',
    );
  });

  it('writes runtime_vnics.json with 2 spaces, unknown keys kept, non-ASCII escaped as Python does', () => {
    const text = formatRuntimeVnics(
      new Map([
        [
          'a',
          [
            {
              name: 'eth0',
              parent_interface: 'eth0',
              network_mode: 'dhcp',
              dns: ['8.8.8.8'],
              extra: { x: [] },
              u: 'é☃',
            },
          ],
        ],
      ]),
    );
    expect(text).toBe(
      '{\n  "a": [\n    {\n      "name": "eth0",\n      "parent_interface": "eth0",\n      "network_mode": "dhcp",\n      "dns": [\n        "8.8.8.8"\n      ],\n      "extra": {\n        "x": []\n      },\n      "u": "\\u00e9\\u2603"\n    }\n  ]\n}',
    );
    expect(JSON.parse(text).a[0].u).toBe('é☃');
  });

  it('writes serial_configs.json with 2 spaces and the fields the old agent writes', () => {
    const port = {
      name: 'modbus_rtu',
      device_id: 'usb-FTDI',
      container_path: '/dev/modbus0',
      status: 'disconnected' as const,
      current_host_path: null,
      major: null,
      minor: null,
    };
    const file = new Map([['a', { serial_ports: [port] }]]);
    expect(formatSerialConfigs(file)).toBe(pythonJson({ a: { serial_ports: [port] } }, 2));
    expect(parseSerialConfigs(JSON.parse(formatSerialConfigs(file))).value).toEqual(file);
  });

  it('keeps good entries and skips malformed ones', () => {
    expect(parseClients({ a: { ip: '1.2.3.4', name: 'a' }, b: 'nonsense' })).toEqual({
      value: new Map([['a', { ip: '1.2.3.4', name: 'a' }]]),
      skipped: ['b'],
    });
    expect(parseRuntimeVnics({ a: [{ name: 'x' }] }).skipped).toEqual(['a']);
  });

  it('puts the files where the old agent does', () => {
    expect(storePaths('/var/orchestrator')).toEqual({
      clients: '/var/orchestrator/data/clients.json',
      runtimeVnics: '/var/orchestrator/runtime_vnics.json',
      serialConfigs: '/var/orchestrator/data/serial_configs.json',
      journal: '/var/orchestrator/data/journal.json',
    });
  });
});

describe('the intent journal', () => {
  it('round-trips and refuses another version', () => {
    const journal = emptyJournal();
    journal.vplcs.set('a', {
      spec: {
        name: 'a',
        vnics: [{ name: 'eth0', parent_interface: 'p', network_mode: 'static', odd: 1 }],
        serials: [],
      },
      desired: 'running',
      operation: 'create',
      state: 'creating.networks',
      failure: null,
      interruptions: 1,
      updatedAt: '2026-01-20T10:00:00.000Z',
    });
    expect(parseJournal(JSON.parse(formatJournal(journal)))).toEqual({ value: journal, skipped: [] });
    expect(() => parseJournal({ version: 2, vplcs: {} })).toThrow(/version 2/);
  });

  it('keeps the runtime_version of a create, and reads entries without one as before', () => {
    const journal = emptyJournal();
    const entry = {
      desired: 'running' as const,
      operation: 'create',
      state: 'creating.image',
      failure: null,
      interruptions: 0,
      updatedAt: '2026-01-20T10:00:00.000Z',
    };
    journal.vplcs.set('v2', { ...entry, spec: { name: 'v2', vnics: [], serials: [], runtimeVersion: 'v2' } });
    journal.vplcs.set('plain', { ...entry, spec: { name: 'plain', vnics: [], serials: [] } });
    const read = parseJournal(JSON.parse(formatJournal(journal)));
    expect(read.value.vplcs.get('v2')?.spec.runtimeVersion).toBe('v2');
    expect(read.value.vplcs.get('plain')?.spec).not.toHaveProperty('runtimeVersion');
    expect(read).toEqual({ value: journal, skipped: [] });
  });
});

describe('StateStore', () => {
  it('loads what is there, sets corrupt files aside and names them', async () => {
    const paths = storePaths(dir);
    await mkdir(join(dir, 'data'), { recursive: true });
    await writeFile(paths.clients, formatClients(new Map([['a', { ip: '10.0.0.2', name: 'a' }]])));
    await writeFile(paths.runtimeVnics, '{"a": [');
    const { store, loaded } = await StateStore.open(dir, log);
    expect(loaded.clients).toEqual(new Map([['a', { ip: '10.0.0.2', name: 'a' }]]));
    expect(loaded.runtimeVnics).toEqual(new Map());
    expect(loaded.corrupt).toEqual([paths.runtimeVnics]);
    expect(loaded.journal).toEqual(emptyJournal());
    expect((await readdir(dir)).some((f) => f.startsWith('runtime_vnics.json.corrupt-'))).toBe(true);
    store.close();
  });

  it('removes the temporary files a killed agent left beside its own files, and nothing else', async () => {
    const paths = storePaths(dir);
    await mkdir(join(dir, 'data'), { recursive: true });
    const stale = [`${paths.journal}.tmp-4242-7`, `${paths.runtimeVnics}.tmp-1-0`];
    const foreign = [join(dir, 'data', 'notes.txt.tmp-1-1'), join(dir, 'data', 'journal.json.tmp-x')];
    for (const f of [...stale, ...foreign]) await writeFile(f, 'half written');
    const { store } = await StateStore.open(dir, log);
    const left = [...(await readdir(join(dir, 'data'))), ...(await readdir(dir))];
    for (const f of stale) expect(left).not.toContain(f.split('/').at(-1));
    for (const f of foreign) expect(left).toContain(f.split('/').at(-1));
    store.close();
  });
});

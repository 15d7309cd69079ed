import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The arrows point one way: main → actors → machines, actors → io, and every layer may use model/ (the vPLC spec,
 * facts, names codec and backoff that all layers share). Machines and the model stay pure so the same machine runs
 * under model-based tests and in production; actors live in one folder per capability.
 */

const root = new URL('../..', import.meta.url).pathname;

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (/\.(ts|mts|js|mjs)$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** Every module specifier a file imports or re-exports, static or dynamic. */
function importsOf(source: string): string[] {
  const specs: string[] = [];
  const patterns = [
    /\bimport\s+(?:type\s+)?(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bexport\s+(?:type\s+)?[^'"`;]*?\s+from\s+['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) specs.push(m[1]!);
  return specs;
}

const NODE_IO = /^(node:)?(fs|fs\/promises|net|child_process|http|https|http2|dgram|tls|dns|worker_threads|cluster)$/;
const IO_PACKAGES = /^(dockerode|socket\.io-client|pino|pino-pretty|undici|node-cron)(\/.*)?$/;

function layerOf(file: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const target = relative(root, join(root, file, '..', spec));
  const m = /^src\/(machines|actors|io|model)\//.exec(target);
  return m ? m[1]! : target === 'src/main.js' || target === 'src/main.ts' ? 'main' : null;
}

async function violations(dir: string, forbidden: (file: string, spec: string) => string | null): Promise<string[]> {
  const found: string[] = [];
  for (const file of await sourceFiles(dir)) {
    const text = await readFile(join(root, file), 'utf8');
    for (const spec of importsOf(text)) {
      const why = forbidden(file, spec);
      if (why) found.push(`${file} imports '${spec}' (${why})`);
    }
  }
  return found;
}

describe('architecture', () => {
  it('keeps machines pure: no imports of io, actors, Node I/O modules or I/O libraries', async () => {
    const found = await violations('src/machines', (file, spec) => {
      if (NODE_IO.test(spec)) return 'Node I/O module';
      if (IO_PACKAGES.test(spec)) return 'I/O library';
      const layer = layerOf(file, spec);
      if (layer === 'io' || layer === 'actors' || layer === 'main') return `machines must not depend on ${layer}`;
      return null;
    });
    expect(found).toEqual([]);
  });

  it('keeps the shared model pure: it imports no other layer, no Node I/O and no I/O library', async () => {
    const found = await violations('src/model', (file, spec) => {
      if (NODE_IO.test(spec)) return 'Node I/O module';
      if (IO_PACKAGES.test(spec)) return 'I/O library';
      const layer = layerOf(file, spec);
      return layer !== null && layer !== 'model' ? `model must not depend on ${layer}` : null;
    });
    expect(found).toEqual([]);
  });

  it('keeps io free of machines and actors', async () => {
    const found = await violations('src/io', (file, spec) => {
      const layer = layerOf(file, spec);
      return layer === 'machines' || layer === 'actors' || layer === 'main' ? `io must not depend on ${layer}` : null;
    });
    expect(found).toEqual([]);
  });

  it('keeps actors from depending on main', async () => {
    const found = await violations('src/actors', (file, spec) =>
      layerOf(file, spec) === 'main' ? 'actors must not depend on main' : null,
    );
    expect(found).toEqual([]);
  });

  it('reads the environment only in src/config.ts, which main hands process.env to', async () => {
    const readers: string[] = [];
    for (const file of await sourceFiles('src')) {
      const text = await readFile(join(root, file), 'utf8');
      const uses = text.match(/\bprocess\.env\b/g)?.length ?? 0;
      // main passes process.env whole, as an argument (to parseConfig, and to ctl and doctor, which give it to
      // parseConfig); it never reads a variable itself.
      const handOver = file === 'src/main.ts' ? (text.match(/[(,]\s*process\.env\s*[,)]/g)?.length ?? 0) : 0;
      if (file !== 'src/config.ts' && uses > handOver) readers.push(file);
    }
    expect(readers).toEqual([]);
  });

  it('keeps the tools (src/cli) off the running system: no imports of actors or machines', async () => {
    const found = await violations('src/cli', (file, spec) => {
      const layer = layerOf(file, spec);
      return layer === 'actors' || layer === 'machines' || layer === 'main' ? `cli must not depend on ${layer}` : null;
    });
    expect(found).toEqual([]);
  });

  it('groups actors by capability: only the composition (agent.ts, modules.ts) sits directly in src/actors', async () => {
    const entries = await readdir(join(root, 'src/actors'), { withFileTypes: true });
    const looseFiles = entries
      .filter((e) => e.isFile() && !['agent.ts', 'modules.ts'].includes(e.name))
      .map((e) => e.name);
    expect(looseFiles).toEqual([]);
    const folders = entries.filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders).toEqual(expect.arrayContaining(['boot', 'cloud', 'network', 'sidecar', 'state', 'vplc']));
  });

  it('detects a forbidden import (the check itself can fail)', async () => {
    const sample = [
      "import Docker from 'dockerode';",
      "import { readFile } from 'node:fs/promises';",
      "import type { X } from '../io/docker/engine.js';",
      "export { y } from './y.js';",
      "const m = await import('node:net');",
    ].join('\n');
    expect(importsOf(sample)).toEqual([
      'dockerode',
      'node:fs/promises',
      '../io/docker/engine.js',
      './y.js',
      'node:net',
    ]);
    expect(NODE_IO.test('node:fs/promises')).toBe(true);
    expect(IO_PACKAGES.test('dockerode')).toBe(true);
    expect(layerOf('src/machines/vplc/machine.ts', '../../io/docker/engine.js')).toBe('io');
    expect(layerOf('src/model/facts.ts', '../machines/vplc/machine.js')).toBe('machines');
    expect(layerOf('src/io/docker/labels.ts', '../../model/vplc.js')).toBe('model');
  });

  it('reports a real forbidden import written into a scratch layer file', async () => {
    const { mkdtemp, mkdir, writeFile, rm } = await import('node:fs/promises');
    const scratch = await mkdtemp(join(root, 'src/machines/.arch-selftest-'));
    try {
      await mkdir(join(scratch, 'inner'));
      await writeFile(join(scratch, 'inner/bad.ts'), "import { DockerEngine } from '../../../io/docker/engine.js';\n");
      const found = await violations(relative(root, scratch), (file, spec) => {
        const layer = layerOf(file, spec);
        return layer === 'io' ? 'machines must not depend on io' : null;
      });
      expect(found).toHaveLength(1);
      expect(found[0]).toContain("imports '../../../io/docker/engine.js' (machines must not depend on io)");
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});

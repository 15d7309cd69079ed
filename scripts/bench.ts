/**
 * `npm run bench [filter...]`: runs every `scripts/bench/*.bench.ts` (or those whose name contains a filter), each
 * in its own Node process with --expose-gc, writes `bench-results/<name>.json` and prints the results.
 * Add a benchmark by adding a file; see `scripts/bench/harness.ts`.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Benchmark } from './bench/harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const benchDir = join(here, 'bench');
const resultsDir = join(here, '..', 'bench-results');
const CHILD_FLAG = '--run-one';

async function runOne(file: string): Promise<void> {
  const module = (await import(pathToFileURL(file).href)) as { default?: Benchmark };
  const benchmark = module.default;
  if (benchmark === undefined || typeof benchmark.run !== 'function') {
    throw new Error(`${basename(file)} has no default export made with defineBenchmark()`);
  }
  const started = Date.now();
  const results = await benchmark.run();
  const report = {
    name: benchmark.name,
    description: benchmark.description,
    date: new Date().toISOString(),
    durationMs: Date.now() - started,
    machine: {
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cpus: cpus().length,
      memoryBytes: totalmem(),
    },
    results,
  };
  await mkdir(resultsDir, { recursive: true });
  const out = join(resultsDir, `${benchmark.name}.json`);
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
  console.log(`wrote ${out}`);
}

function runInChild(file: string): Promise<number> {
  return new Promise((resolve) => {
    // process.execArgv carries tsx's loader, so the child runs TypeScript the same way.
    const child = spawn(
      process.execPath,
      [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), CHILD_FLAG, file],
      {
        stdio: 'inherit',
      },
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
    child.on('error', () => resolve(1));
  });
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args[0] === CHILD_FLAG) {
    await runOne(args[1]!);
    return 0;
  }
  const files = (await readdir(benchDir))
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => args.length === 0 || args.some((a) => f.includes(a)))
    .sort();
  if (files.length === 0) {
    console.error(`no benchmark in ${benchDir} matches ${args.join(' ') || '*.bench.ts'}`);
    return 1;
  }
  let failed = 0;
  for (const file of files) {
    console.log(`== ${file}`);
    if ((await runInChild(join(benchDir, file))) !== 0) {
      failed++;
      console.error(`${file} failed`);
    }
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);

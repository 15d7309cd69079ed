/**
 * `npm run bench [-- [--soak SECONDS] [filter...]]`: runs every `scripts/bench/*.bench.ts` (or those whose name
 * contains a filter), each in its own Node process with --expose-gc, writes `bench/results/<name>.json` (and one
 * `bench/results/<target>.json` per performance target a benchmark measures) and prints a table of the targets.
 * It reports, it never asserts. Add a benchmark by adding a file; see `scripts/bench/harness.ts` and bench/README.md.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Benchmark, TargetResult } from './bench/harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const benchDir = join(here, 'bench');
const resultsDir = join(here, '..', 'bench', 'results');
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
  const targets = (results.targets ?? []) as TargetResult[];
  for (const t of targets) {
    const file = join(resultsDir, `${t.id}.json`);
    await writeFile(
      file,
      `${JSON.stringify({ ...t, benchmark: benchmark.name, date: report.date, machine: report.machine }, null, 2)}\n`,
    );
  }
  console.log(JSON.stringify(report, null, 2));
  console.log(`wrote ${out}${targets.length ? ` and ${targets.length} target file(s)` : ''}`);
}

/** The targets every benchmark of this run wrote, as one table. */
async function printTable(names: string[]): Promise<void> {
  const rows: string[][] = [['target', 'figure', 'baseline', 'ratio', 'met']];
  for (const name of names) {
    let report: { results?: { targets?: TargetResult[] } };
    try {
      report = JSON.parse(await readFile(join(resultsDir, `${name}.json`), 'utf8'));
    } catch {
      continue;
    }
    for (const t of report.results?.targets ?? []) {
      rows.push([
        t.id,
        `${t.figure} ${t.unit.split(' ')[0]}`,
        t.baseline ? `${t.baseline.value} (${t.baseline.what})` : '-',
        t.ratio === null ? '-' : `${t.ratio}x`,
        t.met ? 'yes' : 'NO',
      ]);
    }
  }
  if (rows.length === 1) return;
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log('');
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
}

function runInChild(file: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    // process.execArgv carries tsx's loader, so the child runs TypeScript the same way.
    const child = spawn(
      process.execPath,
      [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), CHILD_FLAG, file],
      { stdio: 'inherit', env },
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
    child.on('error', () => resolve(1));
  });
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv[0] === CHILD_FLAG) {
    await runOne(argv[1]!);
    return 0;
  }
  const env = { ...process.env };
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--soak') {
      const seconds = Number(argv[++i]);
      if (!Number.isInteger(seconds) || seconds < 20) {
        console.error('--soak takes a whole number of seconds, at least 20 (e.g. --soak 600 for ten minutes)');
        return 2;
      }
      env.BENCH_SOAK_S = String(seconds);
    } else args.push(argv[i]!);
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
    if ((await runInChild(join(benchDir, file), env)) !== 0) {
      failed++;
      console.error(`${file} failed`);
    }
  }
  await printTable(files.map((f) => basename(f, '.bench.ts')));
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

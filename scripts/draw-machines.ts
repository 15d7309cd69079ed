/**
 * Draws the vPLC lifecycle from the machine definition itself: `docs/vplc-machine.dot` (the source of
 * truth for the staleness test: plain text, deterministic) and `docs/vplc-machine.svg` rendered by
 * Graphviz `dot` (offline). The SVG carries the SHA-256 of the DOT it was rendered from, so the test can
 * tell a stale picture without depending on the renderer's version.
 *
 *   npx tsx scripts/draw-machines.ts            # write both files
 *   npx tsx scripts/draw-machines.ts --check    # exit 1 if they are stale
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { machineToDot } from '../src/machines/diagram.js';
import { vplcMachine } from '../src/machines/vplc/machine.js';

export { machineToDot };

export const DOT_PATH = fileURLToPath(new URL('../docs/vplc-machine.dot', import.meta.url));
export const SVG_PATH = fileURLToPath(new URL('../docs/vplc-machine.svg', import.meta.url));

export function vplcDot(): string {
  return machineToDot(
    vplcMachine,
    'vPLC lifecycle (generated from src/machines/vplc/ by scripts/draw-machines.ts; do not edit)',
  );
}

export function dotHash(dot: string): string {
  return createHash('sha256').update(dot).digest('hex');
}

async function render(dot: string): Promise<string> {
  const run = promisify(execFile);
  const child = run('dot', ['-Tsvg'], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  child.child.stdin?.end(dot);
  const { stdout } = await child;
  // The hash goes after the XML declaration, which must stay first.
  const marker = `<!-- dot-sha256: ${dotHash(dot)} -->`;
  return stdout.startsWith('<?xml') ? stdout.replace(/\?>\s*/, `?>\n${marker}\n`) : `${marker}\n${stdout}`;
}

async function main(): Promise<void> {
  const dot = vplcDot();
  if (process.argv.includes('--check')) {
    const [onDisk, svg] = await Promise.all([readFile(DOT_PATH, 'utf8'), readFile(SVG_PATH, 'utf8')]);
    const fresh = onDisk === dot && svg.includes(dotHash(dot));
    console.log(
      fresh
        ? 'docs/vplc-machine.* are up to date'
        : 'docs/vplc-machine.* are stale: run npx tsx scripts/draw-machines.ts',
    );
    process.exitCode = fresh ? 0 : 1;
    return;
  }
  const svg = await render(dot);
  await writeFile(DOT_PATH, dot);
  await writeFile(SVG_PATH, svg);
  console.log(`wrote ${DOT_PATH} and ${SVG_PATH}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}

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
import { sessionMachine } from '../src/machines/debug/session.machine.js';
import { machineToDot } from '../src/machines/diagram.js';
import { vplcMachine } from '../src/machines/vplc/machine.js';

export { machineToDot };

export const DOT_PATH = fileURLToPath(new URL('../docs/vplc-machine.dot', import.meta.url));
export const SVG_PATH = fileURLToPath(new URL('../docs/vplc-machine.svg', import.meta.url));
export const DEBUG_DOT_PATH = fileURLToPath(new URL('../docs/debug-session-machine.dot', import.meta.url));
export const DEBUG_SVG_PATH = fileURLToPath(new URL('../docs/debug-session-machine.svg', import.meta.url));

export function vplcDot(): string {
  return machineToDot(
    vplcMachine,
    'vPLC lifecycle (generated from src/machines/vplc/ by scripts/draw-machines.ts; do not edit)',
  );
}

export function debugSessionDot(): string {
  return machineToDot(
    sessionMachine,
    'WebRTC debug session (generated from src/machines/debug/ by scripts/draw-machines.ts; do not edit)',
  );
}

/** Every drawn machine: its DOT text and where the DOT and the SVG go. */
const DIAGRAMS = [
  { name: 'docs/vplc-machine.*', dot: vplcDot, dotPath: DOT_PATH, svgPath: SVG_PATH },
  { name: 'docs/debug-session-machine.*', dot: debugSessionDot, dotPath: DEBUG_DOT_PATH, svgPath: DEBUG_SVG_PATH },
];

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
  const check = process.argv.includes('--check');
  for (const diagram of DIAGRAMS) {
    const dot = diagram.dot();
    if (check) {
      const [onDisk, svg] = await Promise.all([
        readFile(diagram.dotPath, 'utf8').catch(() => ''),
        readFile(diagram.svgPath, 'utf8').catch(() => ''),
      ]);
      const fresh = onDisk === dot && svg.includes(dotHash(dot));
      console.log(
        fresh ? `${diagram.name} are up to date` : `${diagram.name} are stale: run npx tsx scripts/draw-machines.ts`,
      );
      if (!fresh) process.exitCode = 1;
      continue;
    }
    const svg = await render(dot);
    await writeFile(diagram.dotPath, dot);
    await writeFile(diagram.svgPath, svg);
    console.log(`wrote ${diagram.dotPath} and ${diagram.svgPath}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}

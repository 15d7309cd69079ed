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
import type { AnyStateMachine } from 'xstate';
import { sessionMachine } from '../src/machines/debug/session.machine.js';
import { vplcMachine } from '../src/machines/vplc/machine.js';

export const DOT_PATH = fileURLToPath(new URL('../docs/vplc-machine.dot', import.meta.url));
export const SVG_PATH = fileURLToPath(new URL('../docs/vplc-machine.svg', import.meta.url));
export const DEBUG_DOT_PATH = fileURLToPath(new URL('../docs/debug-session-machine.dot', import.meta.url));
export const DEBUG_SVG_PATH = fileURLToPath(new URL('../docs/debug-session-machine.svg', import.meta.url));

// Just the parts of XState's StateNode this drawer reads.
interface Guard {
  type?: string;
  guards?: unknown[];
  name?: string;
}
interface Transition {
  eventType: string;
  target?: readonly StateNodeLike[];
  guard?: string | Guard | ((...args: never[]) => unknown);
  actions: readonly unknown[];
}
interface StateNodeLike {
  id: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  states: Record<string, StateNodeLike>;
  transitions: Map<string, Transition[]>;
  always?: Transition[];
  invoke: Array<{ src: unknown; id: string }>;
  initial?: { target: readonly StateNodeLike[] };
}

function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function guardText(guard: Transition['guard']): string | null {
  if (guard === undefined) return null;
  if (typeof guard === 'string') return guard;
  const g = guard as Guard;
  if (g.name === 'not' && Array.isArray(g.guards)) return `!${guardText(g.guards[0] as Transition['guard'])}`;
  if (typeof g.type === 'string') return g.type;
  return 'guard';
}

function eventText(eventType: string): string {
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (done) return `done ${done[1]}`;
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (error) return `error ${error[1]}`;
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return `after ${after[1]}`;
  return eventType === '' ? 'always' : eventType;
}

function label(t: Transition): string {
  const guard = guardText(t.guard);
  return guard ? `${eventText(t.eventType)} [${guard}]` : eventText(t.eventType);
}

/** The leaf a transition into a compound state lands on (its initial state, recursively). */
function anchor(node: StateNodeLike): StateNodeLike {
  if (node.type !== 'compound') return node;
  const first = node.initial?.target[0] ?? Object.values(node.states)[0];
  return first ? anchor(first) : node;
}

function transitionsOf(node: StateNodeLike): Transition[] {
  return [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
}

/** DOT text for a machine: compound states are clusters; targetless transitions are listed in their state. */
export function machineToDot(machine: AnyStateMachine, title: string): string {
  const root = machine.root as unknown as StateNodeLike;
  const lines: string[] = [
    `digraph ${quote(root.id)} {`,
    `  graph [rankdir=LR, compound=true, fontname="Helvetica", fontsize=12, labelloc=t, label=${quote(title)}];`,
    '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=8];',
    '  "__start" [shape=point, width=0.15];',
  ];
  // One arrow per (from, to) pair, listing every transition it stands for: far fewer crossing lines.
  const edges = new Map<string, { head: string; labels: string[] }>();
  const inPlace = (t: Transition) => !t.target || t.target.length === 0;

  const describe = (node: StateNodeLike): string[] => {
    const extra: string[] = [];
    for (const inv of node.invoke) extra.push(`invoke ${typeof inv.src === 'string' ? inv.src : inv.id}`);
    for (const t of transitionsOf(node)) if (inPlace(t)) extra.push(`${label(t)} (stays)`);
    return extra;
  };

  const visit = (node: StateNodeLike, indent: string): void => {
    const children = Object.values(node.states);
    if (node !== root) {
      if (children.length > 0) {
        lines.push(`${indent}subgraph ${quote(`cluster_${node.id}`)} {`);
        lines.push(`${indent}  label=${quote([node.key, ...describe(node)].join('\n'))}; style=rounded;`);
        for (const child of children) visit(child, `${indent}  `);
        lines.push(`${indent}}`);
      } else {
        const attrs = [`label=${quote([node.key, ...describe(node)].join('\n'))}`];
        if (node.type === 'final') attrs.push('peripheries=2');
        if (node.always && node.always.length > 0) attrs.push('shape=diamond', 'style=""');
        lines.push(`${indent}${quote(node.id)} [${attrs.join(', ')}];`);
      }
    } else {
      for (const child of children) visit(child, indent);
    }
    for (const t of transitionsOf(node)) {
      if (inPlace(t)) continue;
      for (const target of t.target!) {
        const from = anchor(node);
        const to = anchor(target);
        const attrs: string[] = [];
        if (from !== node) attrs.push(`ltail=${quote(`cluster_${node.id}`)}`);
        if (to !== target) attrs.push(`lhead=${quote(`cluster_${target.id}`)}`);
        const head = `  ${quote(from.id)} -> ${quote(to.id)} [${attrs.map((a) => `${a}, `).join('')}label=`;
        const edge = edges.get(head) ?? { head, labels: [] };
        if (!edge.labels.includes(label(t))) edge.labels.push(label(t));
        edges.set(head, edge);
      }
    }
  };

  visit(root, '  ');
  if (describe(root).length > 0)
    lines.push(`  "__everywhere" [shape=note, label=${quote(['in every state', ...describe(root)].join('\n'))}];`);
  lines.push(`  "__start" -> ${quote(anchor(root).id)};`);
  for (const { head, labels } of edges.values()) lines.push(`${head}${quote(labels.join('\n'))}];`);
  lines.push('}', '');
  return lines.join('\n');
}

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

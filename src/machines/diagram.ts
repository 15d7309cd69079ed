import type { AnyStateMachine } from 'xstate';

/**
 * DOT text drawn from a machine definition itself: the source of `docs/vplc-machine.*` (scripts/draw-machines.ts)
 * and of the inspector's live diagrams, so both show the same picture. Each state is a node (a compound state a
 * cluster) named by its state node id (`vplc.creating.image`, `cluster_vplc.creating`), which is how the inspector
 * finds the active states in the rendered SVG.
 */

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

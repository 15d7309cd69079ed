import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Comments and documents point at sections of docs/protocol.md, docs/decisions.md and README.md by their anchors
 * (`docs/decisions.md#the-inspector-stays-on-this-host`). A renamed heading silently breaks every such pointer; this
 * test finds them all and checks that each anchor is a heading of the file it names.
 */
const root = new URL('../..', import.meta.url).pathname;
const DOCS: Record<string, string> = {
  'protocol.md': 'docs/protocol.md',
  'decisions.md': 'docs/decisions.md',
  'README.md': 'README.md',
};

/**
 * GitHub's heading anchors (lower case, punctuation dropped, spaces as hyphens, repeats numbered) and the explicit
 * `<a id="...">` anchors that give a section a short, stable name.
 */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (!fenced) for (const m of line.matchAll(/<a id="([^"]+)"><\/a>/g)) anchors.add(m[1]!);
    const heading = fenced ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = heading[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.(ts|js|mjs|md|sh)$/.test(entry.name)) continue;
    out.push(relative(root, join(entry.parentPath, entry.name)));
  }
  return out;
}

describe('links to sections of the docs', () => {
  it('numbers repeated headings and drops punctuation as GitHub does', () => {
    const anchors = anchorsOf(
      '# A\n## Forwarding to Stately\'s inspector\n## A\n```\n# not a heading\n<a id="fenced"></a>\n```\n<a id="short-name"></a>\n',
    );
    expect([...anchors]).toEqual(['a', 'forwarding-to-statelys-inspector', 'a-1', 'short-name']);
  });

  it('every anchor named in the code and the docs exists', async () => {
    const anchors = new Map<string, Set<string>>();
    for (const path of Object.values(DOCS)) anchors.set(path, anchorsOf(await readFile(join(root, path), 'utf8')));
    const files = [
      ...(await filesUnder('src')),
      ...(await filesUnder('sidecar/src')),
      ...(await filesUnder('scripts')),
      ...(await filesUnder('docs')),
      'README.md',
      'Dockerfile',
    ];
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      const text = await readFile(join(root, file), 'utf8');
      const inMarkdown = file.endsWith('.md');
      for (const m of text.matchAll(/((?:[\w./-]*\/)?(protocol\.md|decisions\.md|README\.md))?#([a-z0-9_-]+)/g)) {
        const named = m[2];
        // A bare `#anchor` is a link only inside a Markdown file, to that file.
        if (!named && !(inMarkdown && m.index! > 0 && text[m.index! - 1] === '(')) continue;
        const target = named ? DOCS[named]! : file;
        const known = anchors.get(target);
        if (!known) continue;
        checked++;
        if (!known.has(m[3]!)) broken.push(`${file}: ${target}#${m[3]}`);
      }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(100);
  });
});

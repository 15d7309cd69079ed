import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allTopics } from '../../src/io/cloud/topics/index.js';
import { renderTopicSchemas, SCHEMAS_DIR, WRITE_SCHEMAS_COMMAND } from '../../src/io/cloud/topics/publish.js';

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), SCHEMAS_DIR);

describe('published request schemas', () => {
  const rendered = renderTopicSchemas();

  it('has one file per topic with $id, title and description', () => {
    expect(rendered.map((schema) => schema.file).sort()).toEqual(
      allTopics.map((topic) => `${topic.name}.request.schema.json`).sort(),
    );
    for (const { file, text } of rendered) {
      const json = JSON.parse(text) as Record<string, unknown>;
      expect(Object.keys(json).slice(0, 4), file).toEqual(['$schema', '$id', 'title', 'description']);
      expect(json.$id).toBe(file);
      expect(json.type).toBe('object');
    }
  });

  it('renders the same text every time', () => {
    expect(renderTopicSchemas()).toEqual(rendered);
  });

  it.each(rendered.map((schema) => [schema.file, schema.text]))('%s is committed and current', async (file, text) => {
    const current = await readFile(join(dir, file), 'utf8').catch(() => null);
    if (current !== text) {
      expect.fail(
        `${SCHEMAS_DIR}/${file} is ${current === null ? 'missing' : 'stale'}: run \`${WRITE_SCHEMAS_COMMAND}\` and commit the result`,
      );
    }
  });

  it('holds no schema of a topic that no longer exists', async () => {
    const wanted = new Set(rendered.map((schema) => schema.file));
    const extra = (await readdir(dir)).filter((file) => file.endsWith('.request.schema.json') && !wanted.has(file));
    expect(extra, `remove them: run \`${WRITE_SCHEMAS_COMMAND}\``).toEqual([]);
  });
});

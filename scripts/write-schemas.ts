/**
 * Writes `schemas/<topic>.request.schema.json` for every cloud topic and removes files of topics that no longer
 * exist. Run after changing a contract: `npx tsx scripts/write-schemas.ts` (or `npm run schemas`).
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderTopicSchemas, SCHEMAS_DIR } from '../src/io/cloud/topics/publish.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, SCHEMAS_DIR);

async function main(): Promise<void> {
  await mkdir(dir, { recursive: true });
  const schemas = renderTopicSchemas();
  const wanted = new Set(schemas.map((schema) => schema.file));
  for (const { file, text } of schemas) {
    const path = join(dir, file);
    const current = await readFile(path, 'utf8').catch(() => null);
    if (current === text) continue;
    await writeFile(path, text);
    console.log(`wrote ${SCHEMAS_DIR}/${file}`);
  }
  for (const file of await readdir(dir)) {
    if (file.endsWith('.request.schema.json') && !wanted.has(file)) {
      await rm(join(dir, file));
      console.log(`removed ${SCHEMAS_DIR}/${file}`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

/**
 * The published JSON Schema of every topic request (`schemas/<topic>.request.schema.json`), for the cloud team and
 * for review. `scripts/write-schemas.ts` writes the files; a unit test fails when a committed file is stale.
 */
import { allTopics } from './index.js';

export const SCHEMAS_DIR = 'schemas';
export const WRITE_SCHEMAS_COMMAND = 'npx tsx scripts/write-schemas.ts';
const DIALECT = 'https://json-schema.org/draft/2020-12/schema';

/** Keys in the order a reader expects them; the rest follow alphabetically. */
const KEY_ORDER = [
  '$schema',
  '$id',
  'title',
  'description',
  'type',
  'format',
  'properties',
  'required',
  'items',
  'anyOf',
];

export interface PublishedSchema {
  /** File name inside `schemas/`. */
  file: string;
  /** The file's exact content. */
  text: string;
}

export function schemaFileName(topic: string): string {
  return `${topic}.request.schema.json`;
}

function pascalCase(snake: string): string {
  return snake
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

function keyRank(key: string): number {
  const index = KEY_ORDER.indexOf(key);
  return index === -1 ? KEY_ORDER.length : index;
}

/** A copy with a stable key order. Property maps keep declaration order: it is the order fields are checked in. */
function ordered(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(ordered);
  if (node === null || typeof node !== 'object') return node;
  const record = node as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((key) => !key.startsWith('~'))
    .sort((a, b) => keyRank(a) - keyRank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const value = record[key];
    if (key === 'properties' && value !== null && typeof value === 'object') {
      const properties: Record<string, unknown> = {};
      for (const [name, schema] of Object.entries(value)) properties[name] = ordered(schema);
      out[key] = properties;
    } else {
      out[key] = ordered(value);
    }
  }
  return out;
}

function describe(topic: (typeof allTopics)[number]): string {
  const reply =
    topic.reply === 'ack+event'
      ? `Reply: the Socket.IO acknowledgement says whether the command was accepted; the outcome follows as a "${topic.name}" event {action, correlation_id, success, ...}.`
      : 'Reply: the Socket.IO acknowledgement.';
  const repeat = 'a repeat with the same correlation_id and identical payload within 10 minutes gets the first reply';
  const mutating =
    typeof topic.mutating === 'function'
      ? `Whether it changes anything depends on the request; when it does, ${repeat}.`
      : topic.mutating
        ? `Changes state: ${repeat}.`
        : 'Read-only: always answered afresh.';
  const base = (topic.request as { description?: string }).description ?? '';
  return `${base} ${reply} ${mutating} Unknown fields are ignored.`.trim();
}

/** Every topic's request schema as file name and content (pretty JSON, stable key order, trailing newline). */
export function renderTopicSchemas(): PublishedSchema[] {
  return allTopics.map((topic) => {
    const schema = {
      ...(topic.request as object),
      $schema: DIALECT,
      $id: schemaFileName(topic.name),
      title: `${pascalCase(topic.name)}Request`,
      description: describe(topic),
    };
    return { file: schemaFileName(topic.name), text: `${JSON.stringify(ordered(schema), null, 2)}\n` };
  });
}

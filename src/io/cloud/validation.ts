/**
 * Validates a topic's payload against its contract and words the failure the way the cloud reads it
 * (docs/protocol.md#validation-errors): the old agent's leading phrase, then the field path.
 *
 *   Missing required field: vnic_configs[0].parent_interface
 *   Invalid field type: vnic_configs[0].name: Value must be a string.
 *   Validation error: <path>: <message>            (anything else)
 *
 * The compiled TypeBox check decides validity (fast path, well under a microsecond). Only a failing payload is
 * walked, property by property in schema declaration order, because the old agent reported the first failure in
 * that order and TypeBox's error list is ordered differently (unions report every branch).
 */
import { Compile } from 'typebox/compile';
import Format from 'typebox/format';
import {
  allTopics,
  INTERFACE_NAME_FORMAT,
  ISO_DATETIME_FORMAT,
  NON_BLANK_PATTERN,
  type TopicName,
  type TopicRequests,
} from './topics/index.js';

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** The reply text when the payload is not a JSON object (or not exactly one argument). */
export const NOT_AN_OBJECT_ERROR = 'Validation error: the request payload must be a JSON object';

interface CompiledCheck {
  Check(value: unknown): boolean;
  Errors(value: unknown): Array<{ instancePath: string; message: string }>;
}

/** The subset of JSON Schema our contracts are built from. */
interface SchemaNode {
  type?: string;
  format?: string;
  pattern?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  anyOf?: SchemaNode[];
}

const TYPE_TEXT: Record<string, string> = {
  number: 'Value must be a number.',
  integer: 'Value must be a number.',
  string: 'Value must be a string.',
  boolean: 'Value must be a boolean.',
  array: 'Value must be a list.',
  object: 'Value must be an object.',
  null: 'Value must be null.',
};

const FORMAT_TEXT: Record<string, string> = {
  [ISO_DATETIME_FORMAT]: 'Value must be a valid ISO datetime string.',
  [INTERFACE_NAME_FORMAT]:
    'Value must be a valid Linux interface name (alphanumeric, dots, dashes, underscores, max 15 chars).',
};

/** What a string that fails its pattern is told, by pattern. */
const PATTERN_TEXT: Record<string, string> = {
  [NON_BLANK_PATTERN]: 'Value must be a non-empty string.',
};

/** JSON Schema patterns are ECMA-262 regular expressions, matched anywhere in the string (as TypeBox does). */
const patterns = new Map<string, RegExp>();
function matchesPattern(pattern: string, value: string): boolean {
  let regex = patterns.get(pattern);
  if (!regex) {
    regex = new RegExp(pattern, 'u');
    patterns.set(pattern, regex);
  }
  return regex.test(value);
}

const compiled = new Map<string, { schema: SchemaNode; check: CompiledCheck }>(
  allTopics.map((topic) => [
    topic.name,
    { schema: topic.request as SchemaNode, check: Compile(topic.request) as unknown as CompiledCheck },
  ]),
);

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function validateRequest<K extends TopicName>(topic: K, payload: unknown): ValidationResult<TopicRequests[K]> {
  const entry = compiled.get(topic);
  if (!entry) throw new Error(`validateRequest: ${topic} is not a topic of this agent`);
  if (!isJsonObject(payload)) return { ok: false, error: NOT_AN_OBJECT_ERROR };
  if (entry.check.Check(payload)) return { ok: true, value: payload as TopicRequests[K] };
  const error = firstFailure(entry.schema, payload, '') ?? fallbackError(entry.check, payload);
  return { ok: false, error };
}

function fallbackError(check: CompiledCheck, payload: unknown): string {
  const [first] = check.Errors(payload);
  if (!first) return 'Validation error: the request does not match its contract';
  return `Validation error: ${pointerToPath(first.instancePath) || '(payload)'}: ${first.message}`;
}

/** `/vnic_configs/0/name` -> `vnic_configs[0].name` */
function pointerToPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    path = /^\d+$/.test(part) ? `${path}[${part}]` : joinKey(path, part);
  }
  return path;
}

function joinKey(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function typeError(path: string, text: string): string {
  return path === '' ? `Invalid field type: ${text}` : `Invalid field type: ${path}: ${text}`;
}

function matchesType(type: string, value: unknown): boolean {
  switch (type) {
    case 'number':
      return typeof value === 'number';
    case 'integer':
      return Number.isInteger(value);
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isJsonObject(value);
    case 'null':
      return value === null;
    default:
      return true;
  }
}

/** The first failure in declaration order, worded for the cloud; null when this walk finds none. */
function firstFailure(schema: SchemaNode, value: unknown, path: string): string | null {
  if (schema.anyOf) {
    // Only `Opt(T)` (T | null) is built from unions here: report T's failure, not "matches no branch".
    const failures = schema.anyOf.map((branch) => firstFailure(branch, value, path));
    if (failures.some((failure) => failure === null)) return null;
    const index = schema.anyOf.findIndex((branch) => branch.type !== 'null');
    return failures[index === -1 ? 0 : index] ?? null;
  }
  if (schema.type === undefined) return null;
  // A date field has one text for every failure, as the old agent's DateType.
  const formatText = schema.format === undefined ? undefined : FORMAT_TEXT[schema.format];
  if (!matchesType(schema.type, value)) {
    // The old InterfaceNameType says "Value must be a string." for a non-string; DateType has one text for all.
    const typeText = schema.format === INTERFACE_NAME_FORMAT ? undefined : formatText;
    return typeError(path, typeText ?? TYPE_TEXT[schema.type] ?? `Value must be ${schema.type}.`);
  }
  // The same registry the compiled check uses, so the walk and the check never disagree.
  if (formatText && schema.format && !Format.Test(schema.format, value as string)) return typeError(path, formatText);
  if (schema.pattern !== undefined && typeof value === 'string' && !matchesPattern(schema.pattern, value)) {
    const text = PATTERN_TEXT[schema.pattern];
    return text ? typeError(path, text) : `Validation error: ${path || '(payload)'}: must match ${schema.pattern}`;
  }
  if (schema.type === 'array' && schema.items && Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const failure = firstFailure(schema.items, value[index], `${path}[${index}]`);
      if (failure) return failure;
    }
  }
  if (schema.type === 'object' && schema.properties && isJsonObject(value)) {
    const required = new Set(schema.required ?? []);
    for (const [key, child] of Object.entries(schema.properties)) {
      const childPath = joinKey(path, key);
      if (!Object.hasOwn(value, key) || value[key] === undefined) {
        if (required.has(key)) return `Missing required field: ${childPath}`;
        continue;
      }
      const failure = firstFailure(child, value[key], childPath);
      if (failure) return failure;
    }
  }
  return null;
}

/**
 * What the agent repeats of its input in sentences and log lines. A name the cloud sent is worth showing, but the
 * cloud (or a runtime) decides how long it is: echoed as it came, one field could make a reply or a log line
 * megabytes long. So every echo goes through here and is cut to a length a person can read.
 */
import { measureJson } from './jsonShape.js';

/** Longest echo of one value, in characters: enough for any real name, path or id, and a screen line at most. */
export const MAX_ECHO_CHARS = 200;

/** `text` cut to `max` characters, saying how much was left out; never splits a surrogate pair. */
export function truncate(text: string, max: number = MAX_ECHO_CHARS): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}… (${text.length - end} more characters)`;
}

/**
 * A value as a sentence shows it: a string as it is, anything else as JSON, both cut to `max` characters. Values too
 * deep or too large to print cheaply are named by their kind instead.
 */
export function echo(value: unknown, max: number = MAX_ECHO_CHARS): string {
  if (typeof value === 'string') return truncate(value, max);
  const shape = measureJson(value, { maxDepth: 8, maxValues: 256 });
  if (!shape.ok) return Array.isArray(value) ? '[a large list]' : `[a large ${typeof value}]`;
  try {
    return truncate(JSON.stringify(value) ?? String(value), max);
  } catch {
    return `[${typeof value}]`;
  }
}

/** `JSON.stringify(text)`, of the truncated text: for quoting a name inside a sentence. */
export function quote(value: unknown, max: number = MAX_ECHO_CHARS): string {
  return typeof value === 'string' ? JSON.stringify(truncate(value, max)) : echo(value, max);
}

/**
 * Period strings of `get_consumption_*` (`cpuPeriod`, `memoryPeriod`), docs/protocol.md#period-strings. The cloud was
 * written against the Python agent, so integers follow Python's `int()`: surrounding whitespace, a sign, underscores
 * between digits and any Unicode decimal digit are allowed. Anything else means "the last hour" with `fallback: true`
 * (the caller logs it).
 */

export interface Period {
  start: number;
  end: number;
  fallback: boolean;
}

// Python's str.isspace() set, which int() strips (differs from JS \s: no U+FEFF, but U+001C-U+001F and U+0085).
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_INT = new RegExp(`^[${PY_SPACE}]*([+-]?)(\\p{Nd}+(?:_\\p{Nd}+)*)[${PY_SPACE}]*$`, 'u');
const DECIMAL_DIGIT = /^\p{Nd}$/u;

/** Value of one Unicode decimal digit. Unicode encodes every Nd digit in contiguous runs of ten, 0 to 9. */
function digitValue(ch: string): number {
  const cp = ch.codePointAt(0)!;
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  let runStart = cp;
  while (runStart > 0 && DECIMAL_DIGIT.test(String.fromCodePoint(runStart - 1))) runStart--;
  return (cp - runStart) % 10;
}

/** Python `int(text)` in base 10, or null where Python raises ValueError. */
export function pythonInt(text: string): number | null {
  const match = PY_INT.exec(text);
  if (match === null) return null;
  let value = 0;
  for (const ch of match[2]!) {
    if (ch !== '_') value = value * 10 + digitValue(ch);
  }
  return match[1] === '-' ? 0 - value : value; // never -0
}

const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, d: 86400 };

export function parsePeriod(text: string, nowSec: number): Period {
  const end = Math.trunc(nowSec);
  const lastHour: Period = { start: end - 3600, end, fallback: true };
  if (text.includes(',')) {
    const parts = text.split(',');
    const start = pythonInt(parts[0]!);
    const explicitEnd = pythonInt(parts[1]!);
    if (start === null || explicitEnd === null) return lastHour;
    return { start, end: explicitEnd, fallback: false };
  }
  const unit = UNIT_SECONDS[text.slice(-1)];
  const amount = pythonInt(unit === undefined ? text : text.slice(0, -1));
  if (amount === null) return lastHour;
  return { start: end - amount * (unit ?? 1), end, fallback: false };
}

/**
 * The `DateType` check of the old agent's contracts: a string is a valid timestamp when CPython 3.11's
 * `datetime.fromisoformat` accepts it after every `Z` has been replaced by `+00:00`.
 *
 * The cloud was written against that parser, so we accept exactly its language, quirks included (ISO week dates,
 * any single character as the date/time separator, `,` as decimal mark, more than six fraction digits truncated,
 * seconds in UTC offsets). This is a port of the C implementation (`Modules/_datetimemodule.c`, which is what
 * CPython runs), checked string by string against Python 3.11.7; it works on the UTF-8 bytes, as the C code does,
 * so non-ASCII input behaves the same.
 */

const MIN_YEAR = 1;
const MAX_YEAR = 9999;
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const DAYS_BEFORE_MONTH = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
const US_PER_DAY = 86_400_000_000;

const DASH = 0x2d;
const COLON = 0x3a;
const DOT = 0x2e;
const COMMA = 0x2c;
const PLUS = 0x2b;
const UPPER_W = 0x57;
const UPPER_Z = 0x5a;
const UPPER_T = 0x54;

/** Bytes with C-string semantics: reading past the end yields NUL, as the C parser sees its buffer. */
class CString {
  constructor(readonly bytes: Uint8Array) {}
  at(i: number): number {
    return i >= 0 && i < this.bytes.length ? (this.bytes[i] as number) : 0;
  }
  get length(): number {
    return this.bytes.length;
  }
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** Reads exactly `n` digits at `pos`; returns the value and the position after them, or null. */
function digits(s: CString, pos: number, n: number): { value: number; next: number } | null {
  let value = 0;
  for (let i = 0; i < n; i++) {
    const c = s.at(pos + i);
    if (!isDigit(c)) return null;
    value = value * 10 + (c - 0x30);
  }
  return { value, next: pos + n };
}

const isLeap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);

function daysInMonth(year: number, month: number): number {
  return month === 2 && isLeap(year) ? 29 : (DAYS_IN_MONTH[month] as number);
}

function daysBeforeYear(year: number): number {
  const y = year - 1;
  return y * 365 + Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400);
}

/** Proleptic Gregorian ordinal, 0001-01-01 = 1. */
function ordinal(year: number, month: number, day: number): number {
  const leapShift = month > 2 && isLeap(year) ? 1 : 0;
  return daysBeforeYear(year) + (DAYS_BEFORE_MONTH[month] as number) + leapShift + day;
}

function fromOrdinal(ord: number): { year: number; month: number; day: number } {
  let n = ord - 1;
  const n400 = Math.floor(n / 146_097);
  n -= n400 * 146_097;
  const n100 = Math.floor(n / 36_524);
  n -= n100 * 36_524;
  const n4 = Math.floor(n / 1_461);
  n -= n4 * 1_461;
  const n1 = Math.floor(n / 365);
  n -= n1 * 365;
  const year = n400 * 400 + n100 * 100 + n4 * 4 + n1 + 1;
  if (n1 === 4 || n100 === 4) return { year: year - 1, month: 12, day: 31 };
  let month = 1;
  while (month < 12 && n >= daysInMonth(year, month)) {
    n -= daysInMonth(year, month);
    month++;
  }
  return { year, month, day: n + 1 };
}

/** ISO week date to calendar date; null when the week or weekday is out of range (C `iso_to_ymd`). */
function isoWeekToDate(isoYear: number, week: number, weekday: number): { year: number } | null {
  // Year 0 has no valid week date: every one of them falls before 0001-01-01.
  if (isoYear < MIN_YEAR) return null;
  const jan1 = ordinal(isoYear, 1, 1);
  const jan1Weekday = (jan1 + 6) % 7; // 0 = Monday
  if (week <= 0 || week >= 53) {
    const has53 = week === 53 && (jan1Weekday === 3 || (jan1Weekday === 2 && isLeap(isoYear)));
    if (!has53) return null;
  }
  if (weekday <= 0 || weekday >= 8) return null;
  let week1Monday = jan1 - jan1Weekday;
  if (jan1Weekday > 3) week1Monday += 7;
  return { year: fromOrdinal(week1Monday + (week - 1) * 7 + weekday - 1).year };
}

/** Where the date ends (C `_find_isoformat_datetime_separator`); -1 for an impossible layout. */
function separatorAt(s: CString): number {
  const len = s.length;
  if (len === 7) return 7;
  if (s.at(4) === DASH) {
    if (s.at(5) !== UPPER_W) return 10;
    if (len < 8) return -1;
    if (len > 8 && s.at(8) === DASH) {
      if (len === 9) return -1;
      if (len > 10 && isDigit(s.at(10))) return 8;
      return 10;
    }
    return 8;
  }
  if (s.at(4) === UPPER_W) {
    let idx = 7;
    while (idx < len && isDigit(s.at(idx))) idx++;
    if (idx < 9) return idx;
    return idx % 2 === 0 ? 7 : 8;
  }
  return 8;
}

/** C `parse_isoformat_date`: true when the date is well formed and its calendar values are in range. */
function dateOk(s: CString, len: number): boolean {
  const y = digits(s, 0, 4);
  if (!y) return false;
  let p = y.next;
  const dashed = s.at(p) === DASH;
  if (dashed) p++;
  if (s.at(p) === UPPER_W) {
    p++;
    const week = digits(s, p, 2);
    if (!week) return false;
    p = week.next;
    let weekday = 1;
    if (p < len) {
      if (dashed && s.at(p++) !== DASH) return false;
      const d = digits(s, p, 1);
      if (!d) return false;
      weekday = d.value;
    }
    const date = isoWeekToDate(y.value, week.value, weekday);
    return date !== null && date.year >= MIN_YEAR && date.year <= MAX_YEAR;
  }
  const month = digits(s, p, 2);
  if (!month) return false;
  p = month.next;
  if (dashed && s.at(p++) !== DASH) return false;
  const day = digits(s, p, 2);
  if (!day) return false;
  const year = y.value;
  if (year < MIN_YEAR || year > MAX_YEAR || month.value < 1 || month.value > 12) return false;
  return day.value >= 1 && day.value <= daysInMonth(year, month.value);
}

interface Clock {
  hour: number;
  minute: number;
  second: number;
  microsecond: number;
}

/**
 * C `parse_hh_mm_ss_ff` over `[start, end)`: `[HH[:?MM[:?SS]]][.,fraction]`.
 * Returns the values and whether anything follows (the C return value 1), or null on a malformed field.
 */
function clock(s: CString, start: number, end: number): { value: Clock; more: boolean } | null {
  const vals = [0, 0, 0];
  let p = start;
  let colons = true;
  for (let i = 0; i < 3; i++) {
    const d = digits(s, p, 2);
    if (!d) return null;
    vals[i] = d.value;
    p = d.next;
    const c = s.at(p++);
    if (i === 0) colons = c === COLON;
    if (p >= end) {
      const [hour, minute, second] = vals as [number, number, number];
      return { value: { hour, minute, second, microsecond: 0 }, more: c !== 0 };
    }
    if (colons && c === COLON) continue;
    if (c === DOT || c === COMMA) break;
    if (colons) return null;
    // Without colons the next field starts right here.
    p--;
  }
  const count = Math.min(end - p, 6);
  const f = digits(s, p, count);
  if (!f) return null;
  p = f.next;
  const microsecond = f.value * 10 ** (6 - count);
  // Digits past the sixth are dropped, as CPython truncates to microseconds.
  while (isDigit(s.at(p))) p++;
  const [hour, minute, second] = vals as [number, number, number];
  return { value: { hour, minute, second, microsecond }, more: s.at(p) !== 0 };
}

/** C `parse_isoformat_time` plus the range checks the datetime and timezone constructors apply. */
function timeOk(s: CString, start: number): boolean {
  const end = s.length;
  let tz = start;
  do {
    const c = s.at(tz);
    if (c === UPPER_Z || c === PLUS || c === DASH) break;
  } while (++tz < end);

  const local = clock(s, start, tz);
  if (!local) return false;
  const { hour, minute, second } = local.value;
  if (tz === end) {
    if (local.more) return false;
  } else if (s.at(tz) === UPPER_Z) {
    if (s.at(tz + 1) !== 0) return false;
  } else {
    const sign = s.at(tz) === DASH ? -1 : 1;
    const offset = clock(s, tz + 1, end);
    if (!offset || offset.more) return false;
    const o = offset.value;
    const seconds = o.hour * 3600 + o.minute * 60 + o.second;
    // Offset zero is UTC whatever the fraction; otherwise `timezone()` wants strictly less than one day.
    if (seconds !== 0 && Math.abs(sign * (seconds * 1_000_000 + o.microsecond)) >= US_PER_DAY) return false;
  }
  return hour <= 23 && minute <= 59 && second <= 59;
}

function isLoneSurrogate(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return ch.length === 1 && c >= 0xd800 && c <= 0xdfff;
}

/** True when Python 3.11 `datetime.fromisoformat(value.replace('Z', '+00:00'))` would return a datetime. */
export function isPythonIsoDateTime(value: string): boolean {
  const chars = Array.from(value.replaceAll('Z', '+00:00'));
  if (chars.length < 7) return false;
  // CPython lets any one non-ASCII character stand as the separator (and only there) by swapping it for `T`
  // before it parses the UTF-8 bytes.
  for (const pos of [7, 8, 10]) {
    if (pos > chars.length) break;
    const ch = chars[pos];
    if (ch !== undefined && (ch.codePointAt(0) as number) > 0x7f) {
      chars[pos] = String.fromCharCode(UPPER_T);
      break;
    }
  }
  if (chars.some(isLoneSurrogate)) return false;
  const s = new CString(new TextEncoder().encode(chars.join('')));
  const sep = separatorAt(s);
  // The only impossible layout is `YYYY-Www-` (9 bytes), which CPython rejects while reading the weekday.
  if (sep < 0) return false;
  if (!dateOk(s, sep)) return false;
  if (s.length > sep) return timeOk(s, sep + 1);
  return true;
}

/**
 * Python's `datetime.now().isoformat()`: local time, no zone suffix, microseconds omitted when zero
 * (spec conventions). The cloud parses heartbeats and status timestamps in this form.
 */
export function isoLocal(date: Date = new Date()): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  const base =
    `${date.getFullYear()}-${p2(date.getMonth() + 1)}-${p2(date.getDate())}` +
    `T${p2(date.getHours())}:${p2(date.getMinutes())}:${p2(date.getSeconds())}`;
  const ms = date.getMilliseconds();
  return ms === 0 ? base : `${base}.${String(ms * 1000).padStart(6, '0')}`;
}

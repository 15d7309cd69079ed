/**
 * Timestamps as the old agent wrote them with Python's `datetime.now().isoformat()`: local time, no zone suffix,
 * six fractional digits. The cloud parses heartbeats, status timestamps and sidecar events in this form. (Python drops
 * the fraction only when the microseconds are exactly zero; JavaScript clocks have milliseconds, so the fraction is
 * always written and every timestamp has the same length.)
 */
export function isoLocal(date: Date = new Date()): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}000`
  );
}

/**
 * The reference stamps events with Python's `datetime.now().isoformat()`: local time, no zone, microseconds.
 * We keep that form so readers written for the reference parse ours unchanged.
 */
export function isoLocalNow(now: Date = new Date()): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}` +
    `T${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}` +
    `.${pad(now.getMilliseconds(), 3)}000`
  );
}

/**
 * The text of anything thrown, for logs and for the sentences that reach the cloud: an Error's message, a string as
 * it is, anything else as JSON (so a rejected plain object says what it held instead of `[object Object]`).
 */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

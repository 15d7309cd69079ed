/**
 * URLs as the agent shows them. `--cloud-url` may carry a user and password (`https://user:secret@host`); they must
 * not reach a log line, an error sentence or the start-up banner, wherever the URL is quoted.
 */

export const URL_CREDENTIALS_CENSOR = '[redacted]';

// scheme://userinfo@ — the userinfo ends at the last @ before the path, query or fragment.
const CREDENTIALS_IN_TEXT = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/?#@]*(?:@[^\s/?#@]*)*@/g;

/** `text` with the user and password of every URL in it replaced by the censor (`https://[redacted]@host/`). */
export function scrubUrlCredentials(text: string): string {
  return text.includes('@') ? text.replace(CREDENTIALS_IN_TEXT, `$1${URL_CREDENTIALS_CENSOR}@`) : text;
}

/** A URL for display: user and password replaced, the rest as given; text that is no URL is scrubbed all the same. */
export function displayUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return scrubUrlCredentials(text);
  }
  if (url.username === '' && url.password === '') return scrubUrlCredentials(text);
  url.username = '';
  url.password = '';
  return url.toString().replace('://', `://${URL_CREDENTIALS_CENSOR}@`);
}

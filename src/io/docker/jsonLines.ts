/**
 * Docker streams (`/images/create`, `/events`) send one JSON object per line. Calls `onObject` per parsed object;
 * lines that are not JSON are skipped (dockerd never sends them, but a torn line must not kill the stream).
 * Returns a function that flushes the last unterminated line at the end of the stream.
 */
export function onJsonLines(
  stream: NodeJS.ReadableStream,
  onObject: (obj: Record<string, unknown>) => void,
): () => void {
  let buffer = '';
  const take = (line: string): void => {
    const trimmed = line.trim();
    if (trimmed === '') return;
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (parsed !== null && typeof parsed === 'object') onObject(parsed as Record<string, unknown>);
    } catch {
      // skipped: see above
    }
  };
  stream.on('data', (chunk: Buffer | string) => {
    buffer += chunk.toString();
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      take(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
    }
  });
  return () => {
    take(buffer);
    buffer = '';
  };
}

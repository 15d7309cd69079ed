/** One part of a multipart/form-data body: a form field, or a file when `filename` is set. */
export interface MultipartPart {
  name: string;
  content: Buffer;
  filename?: string;
  contentType?: string;
}

// Names and file names are quoted in Content-Disposition; escape what would end the quote or the header line,
// the way browsers do (WHATWG HTML "multipart/form-data encoding algorithm").
function quoted(value: string): string {
  return value.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');
}

/**
 * Encodes parts as multipart/form-data (RFC 7578) into one buffer. Built in memory on purpose: the body is
 * bounded by what the cloud could put in one Socket.IO message, and a buffer can be replayed on a 307/308 redirect.
 */
export function encodeMultipart(parts: readonly MultipartPart[], boundary: string): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(part.name)}"`;
    if (part.filename !== undefined) head += `; filename="${quoted(part.filename)}"`;
    head += '\r\n';
    if (part.filename !== undefined) head += `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n`;
    head += '\r\n';
    chunks.push(Buffer.from(head), part.content, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

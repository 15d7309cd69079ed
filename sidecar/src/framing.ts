/**
 * JSON-lines framing with a hard cap per line (the old sidecar broke the stream on a 64 KiB line).
 * A line over the cap is dropped as soon as it crosses the cap (the caller answers with an error) and the framer
 * discards everything up to the next newline, so the stream stays usable.
 */
export type Frame = { kind: 'line'; text: string } | { kind: 'oversized' };

export class LineFramer {
  private parts: Buffer[] = [];
  private size = 0;
  private discarding = false;

  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let start = 0;
    while (start <= chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      if (!this.discarding && end > start) {
        if (this.size + (end - start) > this.maxLineBytes) {
          this.parts = [];
          this.size = 0;
          this.discarding = true;
          frames.push({ kind: 'oversized' });
        } else {
          this.parts.push(chunk.subarray(start, end));
          this.size += end - start;
        }
      }
      if (newline === -1) break;
      if (!this.discarding) {
        const text = Buffer.concat(this.parts, this.size).toString('utf8').replace(/\r$/, '');
        if (text.trim() !== '') frames.push({ kind: 'line', text });
      }
      this.parts = [];
      this.size = 0;
      this.discarding = false;
      start = newline + 1;
    }
    return frames;
  }
}

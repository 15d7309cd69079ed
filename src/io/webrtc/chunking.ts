/**
 * Chunking of large messages on the WebRTC `data` channel (docs/protocol.md#data-channel-chunking), both ways, with
 * the old agent's thresholds: a message of 15,000 characters or more goes as `chunk_start`, `chunk_data` frames of
 * 14,000 characters and `chunk_end`. Incoming transfers are bounded (count, bytes, age), where the old agent accepted
 * up to 100,000,000 characters per transfer and never purged stale ones.
 */

export const CHUNK_THRESHOLD = 15_000;
export const CHUNK_SIZE = 14_000;
export const MAX_CHUNKS = 10_000;
export const STALE_TRANSFER_MS = 60_000;
/** Transfers being received at once on one channel. */
export const MAX_OPEN_TRANSFERS = 4;

/**
 * JSON as Python's `json.dumps` writes it by default (`", "` and `": "` separators, everything outside ASCII as
 * `\uXXXX`), so frames are the length the old agent's were, and one character is one byte on the wire.
 */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return asciiString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (typeof value === 'object') {
    const parts: string[] = [];
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item === undefined || typeof item === 'function') continue;
      parts.push(`${asciiString(key)}: ${pythonJson(item)}`);
    }
    return `{${parts.join(', ')}}`;
  }
  return 'null';
}

function asciiString(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

let counter = 0;
/** `"<unix ms>-<counter>"`, the counter modulo 1,000,000, as the old agent made them. */
export function transferId(now: number = Date.now()): string {
  counter = (counter + 1) % 1_000_000;
  return `${now}-${counter}`;
}

/** The frames that carry one message: itself, or a chunked transfer. */
export function framesOf(message: unknown, id: () => string = transferId): string[] {
  const text = pythonJson(message);
  if (text.length < CHUNK_THRESHOLD) return [text];
  const transfer = id();
  const total = Math.ceil(text.length / CHUNK_SIZE);
  const frames = [
    pythonJson({ type: 'chunk_start', transfer_id: transfer, total_chunks: total, total_size: text.length }),
  ];
  for (let i = 0; i < total; i++) {
    const data = text.slice(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
    frames.push(pythonJson({ type: 'chunk_data', transfer_id: transfer, sequence: i, data }));
  }
  frames.push(pythonJson({ type: 'chunk_end', transfer_id: transfer }));
  return frames;
}

export interface ReassemblerLimits {
  /** Most characters of one incoming transfer (and of all open ones together). */
  maxChars: number;
  maxOpen?: number;
  staleMs?: number;
  now?: () => number;
}

interface Transfer {
  total: number;
  size: number;
  pieces: Map<number, string>;
  received: number;
  startedAt: number;
}

export type ChunkOutcome =
  /** Not a chunk frame: handle it as a message. */
  | { kind: 'message'; value: Record<string, unknown> }
  /** A frame of a transfer still being received. */
  | { kind: 'pending' }
  /** A whole transfer, reassembled and parsed. */
  | { kind: 'assembled'; value: unknown }
  /** The frame or its transfer was refused; `error` says why (sent back to the peer). */
  | { kind: 'refused'; transferId: string | null; error: string }
  /** Ignored, as the old agent ignored it (unknown transfer, sequence out of range). */
  | { kind: 'ignored'; why: string };

export class Reassembler {
  private readonly transfers = new Map<string, Transfer>();
  private readonly maxOpen: number;
  private readonly staleMs: number;
  private readonly now: () => number;

  constructor(private readonly limits: ReassemblerLimits) {
    this.maxOpen = limits.maxOpen ?? MAX_OPEN_TRANSFERS;
    this.staleMs = limits.staleMs ?? STALE_TRANSFER_MS;
    this.now = limits.now ?? Date.now;
  }

  get open(): number {
    return this.transfers.size;
  }

  /** Characters held by open transfers. */
  get bufferedChars(): number {
    let n = 0;
    for (const t of this.transfers.values()) n += t.received;
    return n;
  }

  accept(frame: Record<string, unknown>): ChunkOutcome {
    const type = frame.type;
    if (type !== 'chunk_start' && type !== 'chunk_data' && type !== 'chunk_end')
      return { kind: 'message', value: frame };
    const id = typeof frame.transfer_id === 'string' && frame.transfer_id.length <= 128 ? frame.transfer_id : null;
    if (id === null) return { kind: 'ignored', why: 'chunk frame without a transfer_id string' };
    if (type === 'chunk_start') return this.start(id, frame);
    const transfer = this.transfers.get(id);
    if (!transfer) return { kind: 'ignored', why: `unknown transfer ${id}` };
    if (type === 'chunk_data') return this.data(id, transfer, frame);
    this.transfers.delete(id);
    if (transfer.pieces.size !== transfer.total) {
      return {
        kind: 'refused',
        transferId: id,
        error: `Transfer ${id} ended with ${transfer.pieces.size} of its ${transfer.total} chunks; it was dropped, send it again`,
      };
    }
    const parts: string[] = [];
    for (let i = 0; i < transfer.total; i++) parts.push(transfer.pieces.get(i)!);
    try {
      return { kind: 'assembled', value: JSON.parse(parts.join('')) };
    } catch (err) {
      return {
        kind: 'refused',
        transferId: id,
        error: `Transfer ${id} is not valid JSON once joined: ${(err as Error).message}`,
      };
    }
  }

  private start(id: string, frame: Record<string, unknown>): ChunkOutcome {
    const { total_chunks: total, total_size: size } = frame;
    if (!Number.isInteger(total) || (total as number) < 1 || (total as number) > MAX_CHUNKS) {
      return { kind: 'ignored', why: `chunk_start ${id} with total_chunks outside 1..${MAX_CHUNKS}` };
    }
    if (!Number.isInteger(size) || (size as number) < 1) {
      return { kind: 'ignored', why: `chunk_start ${id} without a positive total_size` };
    }
    this.purge();
    if ((size as number) > this.limits.maxChars) {
      return {
        kind: 'refused',
        transferId: id,
        error: `Transfer ${id} of ${size} characters is larger than the ${this.limits.maxChars} the agent accepts on this channel`,
      };
    }
    this.transfers.delete(id);
    if (this.transfers.size >= this.maxOpen) {
      return {
        kind: 'refused',
        transferId: id,
        error: `Transfer ${id} refused: ${this.maxOpen} transfers are already being received on this channel`,
      };
    }
    this.transfers.set(id, {
      total: total as number,
      size: size as number,
      pieces: new Map(),
      received: 0,
      startedAt: this.now(),
    });
    return { kind: 'pending' };
  }

  private data(id: string, transfer: Transfer, frame: Record<string, unknown>): ChunkOutcome {
    const seq = frame.sequence;
    if (!Number.isInteger(seq) || (seq as number) < 0 || (seq as number) >= transfer.total) {
      return { kind: 'ignored', why: `chunk_data of ${id} with sequence outside 0..${transfer.total - 1}` };
    }
    if (typeof frame.data !== 'string') return { kind: 'ignored', why: `chunk_data of ${id} without data` };
    const previous = transfer.pieces.get(seq as number);
    const received = transfer.received - (previous?.length ?? 0) + frame.data.length;
    // The announced size bounds what is kept: a peer cannot announce little and send much.
    if (received > transfer.size || this.bufferedChars - transfer.received + received > this.limits.maxChars) {
      this.transfers.delete(id);
      return {
        kind: 'refused',
        transferId: id,
        error: `Transfer ${id} sent more than the ${transfer.size} characters it announced; it was dropped`,
      };
    }
    transfer.pieces.set(seq as number, frame.data);
    transfer.received = received;
    return { kind: 'pending' };
  }

  /** Drops transfers older than the stale age; returns how many. */
  purge(): number {
    const cutoff = this.now() - this.staleMs;
    let n = 0;
    for (const [id, t] of this.transfers) {
      if (t.startedAt < cutoff) {
        this.transfers.delete(id);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.transfers.clear();
  }
}

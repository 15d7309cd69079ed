/**
 * The OpenPLC debug protocol's hex framing (docs/protocol.md#runtime-debug-protocol): requests as the runtime's
 * `debug_command` expects them and the parsing of its `debug_response` data. Pure: no I/O.
 *
 * Unlike the old agent, a reply that cannot be read is a failure with a sentence, never a success with empty values,
 * and a reply whose function code is not the request's is not taken for its answer.
 */

export const FUNCTION = { info: 0x41, set: 0x42, getList: 0x44, getMd5: 0x45 } as const;
export type FunctionCode = (typeof FUNCTION)[keyof typeof FUNCTION];

/** The most indexes one debug_get_list may ask for (the old agent's bound, kept). */
export const MAX_LIST_INDEXES = 256;
/** The most value bytes one debug_set may carry: its length field is two bytes. */
export const MAX_SET_VALUE_BYTES = 0xffff;
/** The longest reply (in hex characters) the agent reads: 64 KiB of data is more than any variable table needs. */
export const MAX_REPLY_HEX_CHARS = 3 * 65_536;

export const STATUS_NAMES: Record<number, string> = {
  126: 'SUCCESS',
  129: 'ERROR_OUT_OF_BOUNDS',
  130: 'ERROR_OUT_OF_MEMORY',
};

export function statusName(status: number): string {
  return STATUS_NAMES[status] ?? `UNKNOWN(0x${status.toString(16).toUpperCase().padStart(2, '0')})`;
}

/** Upper-case byte pairs separated by single spaces, as the runtime's own tools write them: `45 DE AD 00 00`. */
export function toHex(bytes: Uint8Array | readonly number[]): string {
  return Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

/** Upper-case hex without separators: how the old agent handed variable data on (a slice of the reply's hex). */
export function compactHex(bytes: Uint8Array): string {
  return toHex(bytes).replace(/ /g, '');
}

/** Bytes of a hex string with or without spaces, in either case; null when it is not whole bytes of hex. */
export function fromHex(text: string): Uint8Array | null {
  const compact = text.replace(/\s+/g, '');
  if (compact.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(compact)) return null;
  const out = new Uint8Array(compact.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(compact.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff;
}

export function infoRequest(): string {
  return toHex([FUNCTION.info]);
}

export function md5Request(): string {
  return toHex([FUNCTION.getMd5, 0xde, 0xad, 0x00, 0x00]);
}

/** `indexes` must hold 1..256 integers 0..65535 (the caller checks and words the refusal). */
export function listRequest(indexes: readonly number[]): string {
  const bytes = [FUNCTION.getList, indexes.length >> 8, indexes.length & 0xff];
  for (const index of indexes) bytes.push(index >> 8, index & 0xff);
  return toHex(bytes);
}

export function setRequest(index: number, force: boolean, value: Uint8Array): string {
  return toHex([
    FUNCTION.set,
    index >> 8,
    index & 0xff,
    force ? 1 : 0,
    value.length >> 8,
    value.length & 0xff,
    ...value,
  ]);
}

/** The function code a request starts with. */
export function functionOf(requestHex: string): number | null {
  const bytes = fromHex(requestHex);
  return bytes && bytes.length > 0 ? bytes[0]! : null;
}

export type Parsed<T> = ({ ok: true } & T) | { ok: false; error: string };

const NAMES: Record<number, string> = {
  [FUNCTION.info]: 'debug_info',
  [FUNCTION.set]: 'debug_set',
  [FUNCTION.getList]: 'debug_get_list',
  [FUNCTION.getMd5]: 'debug_get_md5',
};

function unreadable(fc: number, why: string): { ok: false; error: string } {
  return { ok: false, error: `The runtime's reply to ${NAMES[fc] ?? 'the debug command'} could not be read: ${why}` };
}

/** Bytes of a reply that must start with `fc` and hold at least `min` bytes. */
function replyBytes(fc: number, hex: string, min: number): Uint8Array | { ok: false; error: string } {
  if (hex.length > MAX_REPLY_HEX_CHARS) return unreadable(fc, `it is longer than ${MAX_REPLY_HEX_CHARS} characters`);
  const bytes = fromHex(hex);
  if (!bytes) return unreadable(fc, 'it is not hex bytes');
  if (bytes.length === 0) return unreadable(fc, 'it is empty');
  if (bytes[0] !== fc) {
    return unreadable(
      fc,
      `it answers function 0x${bytes[0]!.toString(16).toUpperCase()}, not 0x${fc.toString(16).toUpperCase()}`,
    );
  }
  if (bytes.length < min) return unreadable(fc, `it has ${bytes.length} bytes, fewer than the ${min} it needs`);
  return bytes;
}

/** A runtime status other than SUCCESS is the failure, named as the runtime names it (e.g. ERROR_OUT_OF_BOUNDS). */
function statusFailure(status: number): { ok: false; error: string } | null {
  return status === 0x7e ? null : { ok: false, error: statusName(status) };
}

export function parseInfo(hex: string): Parsed<{ variableCount: number }> {
  const bytes = replyBytes(FUNCTION.info, hex, 3);
  if (!(bytes instanceof Uint8Array)) return bytes;
  return { ok: true, variableCount: (bytes[1]! << 8) | bytes[2]! };
}

export function parseMd5(hex: string): Parsed<{ md5: string }> {
  const bytes = replyBytes(FUNCTION.getMd5, hex, 2);
  if (!(bytes instanceof Uint8Array)) return bytes;
  const failed = statusFailure(bytes[1]!);
  if (failed) return failed;
  const rest = bytes.subarray(2);
  const nul = rest.indexOf(0);
  const md5 = Buffer.from(nul === -1 ? rest : rest.subarray(0, nul)).toString('latin1');
  if (md5.length === 0 || !/^[\x21-\x7e]+$/.test(md5)) {
    return unreadable(FUNCTION.getMd5, 'its checksum is empty or not printable text');
  }
  return { ok: true, md5 };
}

export function parseList(
  hex: string,
): Parsed<{ lastIndex: number; tick: number; dataSize: number; variableDataHex: string }> {
  const bytes = replyBytes(FUNCTION.getList, hex, 2);
  if (!(bytes instanceof Uint8Array)) return bytes;
  const failed = statusFailure(bytes[1]!);
  if (failed) return failed;
  if (bytes.length < 10)
    return unreadable(FUNCTION.getList, `it has ${bytes.length} bytes, fewer than the 10 it needs`);
  const lastIndex = (bytes[2]! << 8) | bytes[3]!;
  const tick = ((bytes[4]! << 24) >>> 0) + ((bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!);
  const dataSize = (bytes[8]! << 8) | bytes[9]!;
  const data = bytes.subarray(10);
  if (data.length < dataSize) {
    return unreadable(FUNCTION.getList, `it announces ${dataSize} data bytes and carries ${data.length}`);
  }
  return { ok: true, lastIndex, tick, dataSize, variableDataHex: compactHex(data.subarray(0, dataSize)) };
}

export function parseSet(hex: string): Parsed<object> {
  const bytes = replyBytes(FUNCTION.set, hex, 2);
  if (!(bytes instanceof Uint8Array)) return bytes;
  return statusFailure(bytes[1]!) ?? { ok: true };
}

import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE, CHUNK_THRESHOLD, framesOf, pythonJson, Reassembler } from '../../src/io/webrtc/chunking.js';
import {
  fromHex,
  listRequest,
  md5Request,
  parseInfo,
  parseList,
  parseMd5,
  parseSet,
  setRequest,
  statusName,
} from '../../src/io/runtime-debug/protocol.js';

describe('OpenPLC debug hex framing', () => {
  it('frames requests as upper-case byte pairs, big-endian', () => {
    expect(md5Request()).toBe('45 DE AD 00 00');
    expect(listRequest([1, 258])).toBe('44 00 02 00 01 01 02');
    expect(setRequest(3, true, Uint8Array.from([0x2a]))).toBe('42 00 03 01 00 01 2A');
    expect(fromHex('45de ad')).toEqual(Uint8Array.from([0x45, 0xde, 0xad]));
    expect(fromHex('4')).toBeNull();
    expect(fromHex('zz')).toBeNull();
  });

  it('reads replies and names the runtime statuses', () => {
    expect(parseInfo('41 00 20')).toEqual({ ok: true, variableCount: 32 });
    expect(parseMd5(`45 7E ${Buffer.from('abc123').toString('hex')} 00`)).toEqual({ ok: true, md5: 'abc123' });
    expect(parseList('44 7E 00 03 00 00 01 00 00 02 12 34')).toEqual({
      ok: true,
      lastIndex: 3,
      tick: 256,
      dataSize: 2,
      variableDataHex: '1234',
    });
    expect(parseSet('42 81')).toEqual({ ok: false, error: 'ERROR_OUT_OF_BOUNDS' });
    expect(statusName(0x99)).toBe('UNKNOWN(0x99)');
  });

  it('never takes a malformed or foreign reply for a success', () => {
    expect(parseMd5('')).toMatchObject({ ok: false, error: expect.stringContaining('it is empty') });
    expect(parseInfo('41 00')).toMatchObject({ ok: false, error: expect.stringContaining('fewer than the 3') });
    expect(parseSet('41 7E')).toMatchObject({ ok: false, error: expect.stringContaining('answers function 0x41') });
    expect(parseList('44 7E 00 00 00 00 00 01 00 05 01')).toMatchObject({
      ok: false,
      error: expect.stringContaining('announces 5 data bytes and carries 1'),
    });
    expect(parseList('ERROR: no program')).toMatchObject({ ok: false, error: expect.stringContaining('not hex') });
  });
});

describe('data channel chunking', () => {
  it('writes JSON as Python json.dumps does, ASCII only', () => {
    expect(pythonJson({ a: 1, b: ['x', null, true], c: 'é' })).toBe('{"a": 1, "b": ["x", null, true], "c": "\\u00e9"}');
  });

  it('sends below the threshold as one frame and above it as chunks that join to the message', () => {
    expect(framesOf({ type: 'pong' })).toEqual(['{"type": "pong"}']);
    const message = { type: 'command_response', body: 'y'.repeat(CHUNK_THRESHOLD * 3) };
    const frames = framesOf(message, () => 't-1').map((f) => JSON.parse(f) as Record<string, unknown>);
    const text = pythonJson(message);
    expect(frames[0]).toEqual({
      type: 'chunk_start',
      transfer_id: 't-1',
      total_chunks: Math.ceil(text.length / CHUNK_SIZE),
      total_size: text.length,
    });
    expect(frames.at(-1)).toEqual({ type: 'chunk_end', transfer_id: 't-1' });
    const r = new Reassembler({ maxChars: 1 << 20 });
    const outcomes = frames.map((f) => r.accept(f));
    expect(outcomes.at(-1)).toEqual({ kind: 'assembled', value: message });
    expect(r.open).toBe(0);
  });

  it('bounds what it reassembles: size, open transfers, oversent data, missing chunks and stale transfers', () => {
    let now = 0;
    const r = new Reassembler({ maxChars: 100, maxOpen: 2, staleMs: 1_000, now: () => now });
    expect(r.accept({ type: 'chunk_start', transfer_id: 'big', total_chunks: 1, total_size: 101 })).toMatchObject({
      kind: 'refused',
      error: expect.stringContaining('larger than the 100'),
    });
    expect(r.accept({ type: 'chunk_start', transfer_id: 'a', total_chunks: 2, total_size: 10 }).kind).toBe('pending');
    expect(r.accept({ type: 'chunk_start', transfer_id: 'b', total_chunks: 2, total_size: 10 }).kind).toBe('pending');
    expect(r.accept({ type: 'chunk_start', transfer_id: 'c', total_chunks: 2, total_size: 10 })).toMatchObject({
      kind: 'refused',
      error: expect.stringContaining('2 transfers are already being received'),
    });
    expect(r.accept({ type: 'chunk_data', transfer_id: 'a', sequence: 0, data: 'x'.repeat(11) })).toMatchObject({
      kind: 'refused',
      error: expect.stringContaining('more than the 10 characters it announced'),
    });
    expect(r.accept({ type: 'chunk_data', transfer_id: 'b', sequence: 5, data: 'x' }).kind).toBe('ignored');
    expect(r.accept({ type: 'chunk_data', transfer_id: 'b', sequence: 0, data: '{}' }).kind).toBe('pending');
    expect(r.accept({ type: 'chunk_end', transfer_id: 'b' })).toMatchObject({
      kind: 'refused',
      error: expect.stringContaining('ended with 1 of its 2 chunks'),
    });
    expect(r.accept({ type: 'chunk_start', transfer_id: 'd', total_chunks: 2, total_size: 10 }).kind).toBe('pending');
    now = 5_000;
    expect(r.purge()).toBe(1);
    expect(r.open).toBe(0);
    expect(r.accept({ type: 'chunk_start', transfer_id: 'e', total_chunks: 0, total_size: 10 }).kind).toBe('ignored');
  });
});

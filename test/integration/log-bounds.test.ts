import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DailyFileStream } from '../../src/io/log/dailyFile.js';
import { createLogger } from '../../src/io/log/logger.js';

/** The logger against real files: secrets in every form, size caps, a slow disk and a failing one. */

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'log-bounds-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const freshDir = () => join(root, `d${++counter}`);

function capture(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return Object.assign(stream, { text: () => chunks.join('') });
}

const SECRET = 'hunter2-s3cr3t';

describe('the real logger', () => {
  it('writes no secret to stdout or either file, and logs a Buffer field instead of throwing', async () => {
    const dataDir = freshDir();
    const stdout = capture();
    const logger = createLogger({
      level: 'debug',
      dataDir,
      retentionDays: 14,
      pretty: false,
      stdout,
      now: () => new Date('2026-01-20T10:00:00Z'),
    });
    const log = logger.log.child({ component: 'test' });
    log.info(
      { payload: { headers: { AUTHORIZATION: `Bearer ${SECRET}`, 'X-Api-Key': SECRET, 'Set-Cookie': SECRET } } },
      'h',
    );
    log.info({ a: { b: { c: { key: SECRET } } } }, 'three levels');
    log.info(
      { a: { b: { c: { d: { e: { f: `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----` } } } } } },
      'pem',
    );
    expect(() => log.info({ body: Buffer.from(SECRET) }, 'a buffer')).not.toThrow();
    log.warn(`connecting to https://agent:${SECRET}@cloud.test failed`);
    log.error({ err: new Error(`401 for Authorization: Bearer ${SECRET}`) }, 'error');
    await logger.close();
    const files = [
      stdout.text(),
      await readFile(join(dataDir, 'logs', 'orchestrator-logs-2026-01-20.log'), 'utf8'),
      await readFile(join(dataDir, 'debug', 'orchestrator-debug-2026-01-20.log'), 'utf8'),
    ];
    for (const text of files) {
      expect(text).not.toContain(SECRET);
      expect(text.split('\n').filter((line) => line !== '')).toHaveLength(6);
    }
    expect(files[1]).toContain('"body":"[Buffer of 14 bytes]"');
  });

  it('stops a daily file at its size cap with one line saying so, and starts the next day afresh', async () => {
    const dataDir = freshDir();
    let now = new Date('2026-01-20T10:00:00Z');
    const logger = createLogger({
      level: 'info',
      dataDir,
      retentionDays: 14,
      pretty: false,
      stdout: capture(),
      now: () => now,
      fileMaxBytes: 64 * 1024,
    });
    for (let i = 0; i < 1_000; i++) logger.log.info({ i, filler: 'x'.repeat(1_000) }, 'a line of about 1 KiB');
    now = new Date('2026-01-21T00:00:01Z');
    logger.log.info('the next day');
    await logger.close();
    const file = join(dataDir, 'logs', 'orchestrator-logs-2026-01-20.log');
    expect((await stat(file)).size).toBeLessThanOrEqual(64 * 1024);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({
      level: 40,
      msg: "this log file reached its size cap of 65536 bytes (--log-file-max-bytes); the rest of this UTC day's lines are not written to it",
    });
    expect(await readFile(join(dataDir, 'logs', 'orchestrator-logs-2026-01-21.log'), 'utf8')).toContain('the next day');
  });
});

/** A file whose writes are only taken when `drain()` is called: a stalled disk. */
function stalledFile() {
  const pending: Array<() => void> = [];
  const chunks: string[] = [];
  const stream = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      pending.push(done);
    },
  });
  const drain = async () => {
    while (pending.length > 0) {
      pending.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { stream, chunks, drain };
}

describe('DailyFileStream under a slow or failing disk', () => {
  it('drops lines (and counts them) once 1 MiB waits for the disk, then says how many were lost', async () => {
    const disk = stalledFile();
    const file = new DailyFileStream({
      dir: freshDir(),
      prefix: 'p-',
      now: () => new Date('2026-01-20T10:00:00Z'),
      onError: () => {},
      open: () => disk.stream,
    });
    const line = `${JSON.stringify({ msg: 'x'.repeat(1_000) })}\n`;
    for (let i = 0; i < 20_000; i++) file.write(line);
    expect(file.pendingBytes).toBeLessThan(1024 * 1024 + 2_000);
    expect(file.droppedLines).toBeGreaterThan(18_000);
    await disk.drain();
    file.write('{"msg":"after"}\n');
    await disk.drain();
    const tail = disk.chunks.slice(-2).map((chunk) => JSON.parse(chunk));
    expect(tail[0].msg).toMatch(/^\d+ log lines were dropped because the disk was too slow$/);
    expect(tail[1]).toEqual({ msg: 'after' });
    await file.close();
  });

  it('opens a file again after a write error instead of dropping its lines until the next day', async () => {
    const errors: string[] = [];
    const recovered: number[] = [];
    const good = stalledFile();
    let opens = 0;
    const file = new DailyFileStream({
      dir: freshDir(),
      prefix: 'p-',
      now: () => new Date('2026-01-20T10:00:00Z'),
      onError: (err) => errors.push(err.message),
      onRecovered: (_file, dropped) => recovered.push(dropped),
      retryMs: 20,
      open: () => {
        opens++;
        if (opens > 1) return good.stream;
        return new Writable({
          write(_chunk, _encoding, done) {
            done(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
          },
        });
      },
    });
    file.write('{"msg":"lost 1"}\n');
    await new Promise((resolve) => setImmediate(resolve));
    file.write('{"msg":"lost 2"}\n');
    file.write('{"msg":"lost 3"}\n');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(opens).toBe(2);
    file.write('{"msg":"back"}\n');
    await good.drain();
    expect(errors).toEqual(['ENOSPC: no space left on device, write']);
    expect(recovered).toEqual([2]);
    expect(good.chunks.map((chunk) => JSON.parse(chunk).msg)).toEqual([
      '2 log lines were dropped because the file could not be written',
      'back',
    ]);
    await file.close();
  });
});

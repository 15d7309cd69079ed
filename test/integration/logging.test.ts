import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Level } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentLogger, createLogger } from '../../src/io/log/logger.js';

let root: string;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'logging-test-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDataDir(): Promise<string> {
  const dir = join(root, `data-${++counter}`);
  await mkdir(dir);
  return dir;
}

/** A real Writable (pino-pretty pipes into it) that keeps each line written as stdout. */
function capture(): Writable & { lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return Object.assign(stream, { lines });
}

class Clock {
  constructor(public current: Date) {}
  now = () => this.current;
}

function open(
  dataDir: string,
  clock: Clock,
  level: Level = 'info',
  extra: { retentionDays?: number; pretty?: boolean } = {},
): AgentLogger & { stdout: ReturnType<typeof capture> } {
  const stdout = capture();
  const logger = createLogger({
    level,
    dataDir,
    retentionDays: extra.retentionDays ?? 14,
    pretty: extra.pretty ?? false,
    now: clock.now,
    stdout,
  });
  return { ...logger, stdout };
}

async function lines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const logsFile = (dataDir: string, day: string) => join(dataDir, 'logs', `orchestrator-logs-${day}.log`);
const debugFile = (dataDir: string, day: string) => join(dataDir, 'debug', `orchestrator-debug-${day}.log`);

describe('daily log files', () => {
  it('writes logs/ at the configured level and debug/ always at debug, named by UTC day', async () => {
    const dataDir = await freshDataDir();
    const clock = new Clock(new Date('2026-01-20T10:00:00Z'));
    const logger = open(dataDir, clock, 'info');
    logger.log.debug({ step: 'd' }, 'a debug line');
    logger.log.info({ step: 'i' }, 'an info line');
    logger.log.trace('a trace line');
    await logger.close();

    expect((await lines(logsFile(dataDir, '2026-01-20'))).map((l) => l.msg)).toEqual(['an info line']);
    expect((await lines(debugFile(dataDir, '2026-01-20'))).map((l) => l.msg)).toEqual(['a debug line', 'an info line']);
    expect(logger.stdout.lines.map((l) => JSON.parse(l).msg)).toEqual(['an info line']);
    expect((await lines(logsFile(dataDir, '2026-01-20')))[0]).toMatchObject({
      level: 30,
      time: '2026-01-20T10:00:00.000Z',
      step: 'i',
    });
  });

  it('keeps debug lines in the debug file when the configured level is warn', async () => {
    const dataDir = await freshDataDir();
    const logger = open(dataDir, new Clock(new Date('2026-01-20T10:00:00Z')), 'warn');
    logger.log.debug('d');
    logger.log.info('i');
    logger.log.warn('w');
    logger.log.error('e');
    await logger.close();
    expect((await lines(logsFile(dataDir, '2026-01-20'))).map((l) => l.msg)).toEqual(['w', 'e']);
    expect((await lines(debugFile(dataDir, '2026-01-20'))).map((l) => l.msg)).toEqual(['d', 'i', 'w', 'e']);
    expect(logger.stdout.lines.map((l) => JSON.parse(l).msg)).toEqual(['w', 'e']);
  });

  it('writes trace lines to stdout and logs/ at trace, while debug/ stays at debug', async () => {
    const dataDir = await freshDataDir();
    const logger = open(dataDir, new Clock(new Date('2026-01-20T10:00:00Z')), 'trace');
    logger.log.trace('t');
    logger.log.debug('d');
    await logger.close();
    expect((await lines(logsFile(dataDir, '2026-01-20'))).map((l) => l.msg)).toEqual(['t', 'd']);
    expect((await lines(debugFile(dataDir, '2026-01-20'))).map((l) => l.msg)).toEqual(['d']);
  });

  it('appends to the same day across restarts instead of truncating', async () => {
    const dataDir = await freshDataDir();
    const clock = new Clock(new Date('2026-01-20T10:00:00Z'));
    const first = open(dataDir, clock);
    first.log.info('before restart');
    await first.close();
    clock.current = new Date('2026-01-20T10:05:00Z');
    const second = open(dataDir, clock);
    second.log.info('after restart');
    await second.close();
    expect((await lines(logsFile(dataDir, '2026-01-20'))).map((l) => l.msg)).toEqual([
      'before restart',
      'after restart',
    ]);
    expect((await lines(debugFile(dataDir, '2026-01-20'))).map((l) => l.msg)).toEqual([
      'before restart',
      'after restart',
    ]);
  });

  it('starts the next UTC day in a new file with its first line', async () => {
    const dataDir = await freshDataDir();
    const clock = new Clock(new Date('2026-01-20T23:59:59.900Z'));
    const logger = open(dataDir, clock);
    logger.log.info('last of the 20th');
    clock.current = new Date('2026-01-21T00:00:00.100Z');
    logger.log.info('first of the 21st');
    await logger.close();
    expect((await lines(logsFile(dataDir, '2026-01-20'))).map((l) => l.msg)).toEqual(['last of the 20th']);
    expect((await lines(logsFile(dataDir, '2026-01-21'))).map((l) => l.msg)).toEqual(['first of the 21st']);
    expect((await lines(debugFile(dataDir, '2026-01-21'))).map((l) => l.msg)).toEqual(['first of the 21st']);
  });

  it('writes no colour codes to files, even with a coloured terminal', async () => {
    const dataDir = await freshDataDir();
    const logger = open(dataDir, new Clock(new Date('2026-01-20T10:00:00Z')), 'info', { pretty: true });
    logger.log.error({ step: 'x' }, 'coloured \u001b[31mred\u001b[0m text');
    await logger.close();
    expect(logger.stdout.lines.join('')).toContain('\u001b[');
    for (const file of [logsFile(dataDir, '2026-01-20'), debugFile(dataDir, '2026-01-20')]) {
      const text = await readFile(file, 'utf8');
      expect(text).not.toContain('\u001b');
      expect(JSON.parse(text.trim()).msg).toBe('coloured \u001b[31mred\u001b[0m text');
    }
  });
});

describe('retention', () => {
  async function seed(dataDir: string, days: string[]): Promise<void> {
    await mkdir(join(dataDir, 'logs'), { recursive: true });
    await mkdir(join(dataDir, 'debug'), { recursive: true });
    for (const day of days) {
      await writeFile(logsFile(dataDir, day), '{"msg":"old"}\n');
      await writeFile(debugFile(dataDir, day), '{"msg":"old"}\n');
    }
    await writeFile(join(dataDir, 'logs', 'notes.txt'), 'keep me');
    await writeFile(join(dataDir, 'logs', 'orchestrator-logs-2020-01-01.log.gz'), 'keep me');
    await writeFile(join(dataDir, 'debug', 'orchestrator-debug-latest.log'), 'keep me');
  }

  it('deletes files dated more than the retention before today at start and keeps the rest', async () => {
    const dataDir = await freshDataDir();
    await seed(dataDir, ['2025-12-01', '2026-01-05', '2026-01-06', '2026-01-19']);
    const logger = open(dataDir, new Clock(new Date('2026-01-20T08:00:00Z')), 'info', { retentionDays: 14 });
    await logger.close();
    expect((await readdir(join(dataDir, 'logs'))).sort()).toEqual([
      'notes.txt',
      'orchestrator-logs-2020-01-01.log.gz',
      'orchestrator-logs-2026-01-06.log',
      'orchestrator-logs-2026-01-19.log',
      'orchestrator-logs-2026-01-20.log',
    ]);
    expect((await readdir(join(dataDir, 'debug'))).sort()).toEqual([
      'orchestrator-debug-2026-01-06.log',
      'orchestrator-debug-2026-01-19.log',
      'orchestrator-debug-2026-01-20.log',
      'orchestrator-debug-latest.log',
    ]);
  });

  it('sweeps again when the day changes', async () => {
    const dataDir = await freshDataDir();
    await seed(dataDir, ['2026-01-18', '2026-01-19']);
    const clock = new Clock(new Date('2026-01-20T23:00:00Z'));
    const logger = open(dataDir, clock, 'info', { retentionDays: 1 });
    logger.log.info('on the 20th');
    // Let the start-up sweep finish before the day changes.
    await new Promise((r) => setTimeout(r, 50));
    expect(await readdir(join(dataDir, 'logs'))).toContain('orchestrator-logs-2026-01-19.log');
    clock.current = new Date('2026-01-21T00:00:01Z');
    logger.log.info('on the 21st');
    await logger.close();
    const names = await readdir(join(dataDir, 'logs'));
    expect(names).not.toContain('orchestrator-logs-2026-01-19.log');
    expect(names).toContain('orchestrator-logs-2026-01-20.log');
    expect(names).toContain('orchestrator-logs-2026-01-21.log');
    expect(await readdir(join(dataDir, 'debug'))).not.toContain('orchestrator-debug-2026-01-19.log');
  });
});

describe('redaction', () => {
  const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
  const cert = '-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIUQ\n-----END CERTIFICATE-----';
  const secrets = [
    'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC',
    'MIIDdzCCAl+gAwIBAgIUQ',
    'Bearer sekrit',
    'Basic dXNlcjpwdw==',
    'sid=42',
  ];

  it('never writes certificates, keys or authorization headers to any destination', async () => {
    const dataDir = await freshDataDir();
    const logger = open(dataDir, new Clock(new Date('2026-01-20T10:00:00Z')), 'debug', { pretty: true });
    const log = logger.log.child({ vplc: 'plc-1' });
    log.info({ key: pem, cert, ca: [cert] }, 'top-level TLS material');
    log.info({ tls: { key: pem, cert, passphrase: 'pw' } }, 'nested TLS material');
    log.info({ options: { agent: { key: pem } } }, 'deeper TLS material');
    log.info({ headers: { authorization: 'Bearer sekrit', Authorization: 'Basic dXNlcjpwdw==', accept: 'json' } }, 'h');
    log.info({ request: { headers: { Authorization: 'Bearer sekrit', cookie: 'sid=42' } } }, 'nested headers');
    log.info(
      { run: { request: { headers: { authorization: 'Bearer sekrit', 'proxy-authorization': 'Bearer sekrit' } } } },
      'x',
    );
    log.warn(`certificate in a message: ${cert}`);
    log.error({ err: new Error(`failed with ${pem}`) }, 'error carrying a key');
    log.debug({ detail: { text: `embedded ${cert} here` } }, 'a PEM inside an arbitrary string');
    await logger.close();

    const destinations = {
      stdout: logger.stdout.lines.join(''),
      logs: await readFile(logsFile(dataDir, '2026-01-20'), 'utf8'),
      debug: await readFile(debugFile(dataDir, '2026-01-20'), 'utf8'),
    };
    for (const [name, text] of Object.entries(destinations)) {
      for (const secret of secrets) expect(text, `${name} leaks ${secret}`).not.toContain(secret);
      expect(text, name).not.toContain('BEGIN');
      expect(text, name).toContain('[redacted]');
    }
    const debugLines = await lines(debugFile(dataDir, '2026-01-20'));
    expect(debugLines[3]).toMatchObject({ headers: { authorization: '[redacted]', accept: 'json' } });
    expect(debugLines[8]).toMatchObject({ detail: { text: 'embedded [redacted] here' } });
    expect(debugLines.every((l) => l.vplc === 'plc-1')).toBe(true);
  });
});

describe('when the data folder cannot be written', () => {
  it('logs to stdout only, says so once and keeps working', async () => {
    const notADir = join(await freshDataDir(), 'file');
    await writeFile(notADir, 'a file where the data folder should be');
    const logger = open(notADir, new Clock(new Date('2026-01-20T10:00:00Z')));
    logger.log.info('still logging');
    logger.log.info('and again');
    await logger.close();
    const out = logger.stdout.lines.map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(out.filter((l) => l.msg.includes('logging to stdout only'))).toHaveLength(1);
    expect(out[0]).toMatchObject({ level: 40, msg: `cannot write log files under ${notADir}; logging to stdout only` });
    expect(out.slice(1).map((l) => l.msg)).toEqual(['still logging', 'and again']);
  });

  it('creates missing folders', async () => {
    const dataDir = join(await freshDataDir(), 'deep', 'er');
    const logger = open(dataDir, new Clock(new Date('2026-01-20T10:00:00Z')));
    logger.log.info('made it');
    await logger.close();
    expect((await lines(logsFile(dataDir, '2026-01-20'))).map((l) => l.msg)).toEqual(['made it']);
  });
});

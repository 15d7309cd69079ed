import { describe, expect, it } from 'vitest';
import { parsePeriod, pythonInt } from '../../src/io/metrics/period.js';

const NOW = 1_767_225_600;

describe('parsePeriod', () => {
  const table: Array<[string, { start: number; end: number; fallback: boolean }]> = [
    ['1h', { start: NOW - 3600, end: NOW, fallback: false }],
    ['24h', { start: NOW - 86_400, end: NOW, fallback: false }],
    ['30m', { start: NOW - 1800, end: NOW, fallback: false }],
    ['2d', { start: NOW - 172_800, end: NOW, fallback: false }],
    ['90', { start: NOW - 90, end: NOW, fallback: false }],
    ['0', { start: NOW, end: NOW, fallback: false }],
    ['100,200', { start: 100, end: 200, fallback: false }],
    ['100,200,300', { start: 100, end: 200, fallback: false }],
    [' 100 , 200 ', { start: 100, end: 200, fallback: false }],
    ['-5,+7', { start: -5, end: 7, fallback: false }],
    // Python int() strips whitespace and takes a sign.
    [' 2h', { start: NOW - 7200, end: NOW, fallback: false }],
    ['2 h', { start: NOW - 7200, end: NOW, fallback: false }],
    ['\t3\n', { start: NOW - 3, end: NOW, fallback: false }],
    ['+1h', { start: NOW - 3600, end: NOW, fallback: false }],
    // A negative amount gives a start in the future, i.e. an empty result.
    ['-1h', { start: NOW + 3600, end: NOW, fallback: false }],
    ['-0', { start: NOW, end: NOW, fallback: false }],
    // Leading zeros, underscores between digits and non-ASCII decimal digits, as Python's int().
    ['007m', { start: NOW - 420, end: NOW, fallback: false }],
    ['1_000', { start: NOW - 1000, end: NOW, fallback: false }],
    ['\u0663h', { start: NOW - 3 * 3600, end: NOW, fallback: false }],
    ['\uff11\uff12m', { start: NOW - 12 * 60, end: NOW, fallback: false }],
    ['\u00a05\u3000', { start: NOW - 5, end: NOW, fallback: false }],
  ];
  for (const [text, want] of table) {
    it(`reads ${JSON.stringify(text)}`, () => {
      expect(parsePeriod(text, NOW)).toEqual(want);
    });
  }

  const lastHour = { start: NOW - 3600, end: NOW, fallback: true };
  const fallbacks = [
    '',
    ' ',
    '1.5h',
    '1H',
    '1w',
    '1s',
    'h',
    '2h ',
    '1e3',
    '0x10',
    '1__0',
    '_1',
    '1_',
    '- 5',
    '+-5',
    '1,',
    ',5',
    'a,b',
    '1h,2',
    '1,2h',
    '\ufeff5',
    'last hour',
  ];
  for (const text of fallbacks) {
    it(`falls back to the last hour for ${JSON.stringify(text)}`, () => {
      expect(parsePeriod(text, NOW)).toEqual(lastHour);
    });
  }

  it('truncates a fractional now', () => {
    expect(parsePeriod('60', NOW + 0.9)).toEqual({ start: NOW - 60, end: NOW, fallback: false });
  });
});

describe('pythonInt', () => {
  it('accepts what int() accepts and refuses the rest', () => {
    expect(pythonInt('42')).toBe(42);
    expect(pythonInt(' -42 ')).toBe(-42);
    expect(Object.is(pythonInt('-0'), 0)).toBe(true);
    expect(pythonInt('\x1c7\x85')).toBe(7);
    expect(pythonInt('\u0967\u0966')).toBe(10); // Devanagari 1 0
    expect(pythonInt('\u{1D7D9}')).toBe(1); // mathematical double-struck 1, inside a run of five digit sets
    expect(pythonInt('')).toBeNull();
    expect(pythonInt('4 2')).toBeNull();
    expect(pythonInt('\u00b2')).toBeNull(); // superscript two is numeric but not a decimal digit
  });
});

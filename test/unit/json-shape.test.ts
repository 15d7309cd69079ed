import { describe, expect, it } from 'vitest';
import { echo, quote, truncate } from '../../src/model/echo.js';
import { measureJson } from '../../src/model/jsonShape.js';

const LIMITS = { maxDepth: 3, maxValues: 10 };

describe('measureJson', () => {
  it.each([
    ['a number', 1, { ok: true, values: 1, depth: 0 }],
    ['a flat object', { a: 1, b: 'x' }, { ok: true, values: 3, depth: 1 }],
    ['three levels', { a: [{ b: 1 }] }, { ok: true, values: 4, depth: 3 }],
    ['four levels', { a: [{ b: [] }] }, { ok: false, problem: { kind: 'depth', limit: 3 } }],
    ['eleven values', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { ok: false, problem: { kind: 'values', limit: 10 } }],
    ['a BigInt', { n: 1n }, { ok: false, problem: { kind: 'unserialisable', type: 'bigint' } }],
    ['a Buffer', { b: Buffer.from('x') }, { ok: false, problem: { kind: 'binary' } }],
    ['a date', { d: new Date(0) }, { ok: true, values: 2, depth: 1 }],
    [
      'a throwing toJSON',
      {
        t: {
          toJSON: () => {
            throw new Error('no');
          },
        },
      },
      { ok: false, problem: { kind: 'unserialisable', type: 'toJSON' } },
    ],
  ])('%s', (_name, value, expected) => {
    expect(measureJson(value, LIMITS)).toMatchObject(expected);
  });

  it('tells a cycle from a shared reference', () => {
    const shared = { x: 1 };
    expect(measureJson({ a: shared, b: shared }, LIMITS).ok).toBe(true);
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    expect(measureJson(cyclic, { maxDepth: 100, maxValues: 100 })).toEqual({ ok: false, problem: { kind: 'cycle' } });
  });

  it('fails a huge container by its length, without looking at its members', () => {
    const huge = new Array(10_000_000).fill(0);
    const started = performance.now();
    expect(measureJson(huge, LIMITS)).toMatchObject({ ok: false });
    expect(performance.now() - started).toBeLessThan(50);
  });
});

describe('echo', () => {
  it('cuts long text, says how much is left out and never splits a surrogate pair', () => {
    expect(truncate('abc', 5)).toBe('abc');
    expect(truncate('abcdefgh', 5)).toBe('abcde… (3 more characters)');
    expect(truncate('abcd😀xyz', 5)).toBe('abcd… (5 more characters)');
  });

  it('shows values as JSON and names the ones too large to print', () => {
    expect(echo({ a: 1 })).toBe('{"a":1}');
    expect(echo(12)).toBe('12');
    expect(echo(new Array(1_000).fill(0))).toBe('[a large list]');
    expect(quote('x'.repeat(300), 10)).toBe('"xxxxxxxxxx… (290 more characters)"');
  });
});

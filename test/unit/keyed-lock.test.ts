import { describe, expect, it } from 'vitest';
import { KeyedLock } from '../../src/actors/vplc/keyedLock.js';

/** A piece of work that runs until the test lets it finish, recording when it started and ended. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    open,
    work: async () => {
      log.push(`${name}:start`);
      await opened;
      log.push(`${name}:end`);
      return name;
    },
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));
const shared = (key: string) => ({ key, mode: 'shared' as const });

describe('KeyedLock', () => {
  it('runs holders of a key in shared mode side by side', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const done = [lock.with([shared('parent:p')], a.work), lock.with([shared('parent:p')], b.work)];
    await turn();
    expect(log).toEqual(['a:start', 'b:start']);
    b.open();
    a.open();
    expect(await Promise.all(done)).toEqual(['a', 'b']);
  });

  it('makes an exclusive holder wait for the shared holders before it, and later shared ones wait for it', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const create1 = gate(log, 'create1');
    const remove = gate(log, 'remove');
    const create2 = gate(log, 'create2');
    const done = [
      lock.with([shared('parent:p')], create1.work),
      lock.exclusive(['parent:p'], remove.work),
      lock.with([shared('parent:p')], create2.work),
    ];
    await turn();
    expect(log).toEqual(['create1:start']);
    create1.open();
    await turn();
    expect(log).toEqual(['create1:start', 'create1:end', 'remove:start']);
    remove.open();
    await turn();
    expect(log).toEqual(['create1:start', 'create1:end', 'remove:start', 'remove:end', 'create2:start']);
    create2.open();
    await Promise.all(done);
  });

  it('serialises exclusive holders of one key and leaves other keys free', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const c = gate(log, 'c');
    const done = [
      lock.exclusive(['make:p'], a.work),
      lock.exclusive(['make:p'], b.work),
      lock.exclusive(['make:q'], c.work),
    ];
    await turn();
    expect(log).toEqual(['a:start', 'c:start']);
    a.open();
    await turn();
    expect(log).toContain('b:start');
    b.open();
    c.open();
    await Promise.all(done);
  });

  it('holds a key named in both modes exclusively, and takes overlapping sets without deadlock', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const done = [
      lock.with([shared('x'), { key: 'x', mode: 'exclusive' }, shared('y')], a.work),
      lock.with([shared('y'), shared('x')], b.work),
    ];
    await turn();
    expect(log).toEqual(['a:start']);
    a.open();
    b.open();
    expect(await Promise.all(done)).toEqual(['a', 'b']);
  });

  it('releases every key when the work throws', async () => {
    const lock = new KeyedLock();
    await expect(
      lock.exclusive(['k'], async () => {
        throw new Error('engine refused');
      }),
    ).rejects.toThrow('engine refused');
    expect(await lock.exclusive(['k'], async () => 'free again')).toBe('free again');
  });
});

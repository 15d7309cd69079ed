import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type AgentModule, startModules } from '../../src/actors/modules.js';

const log = pino({ level: 'silent' });

function recorder() {
  const calls: string[] = [];
  const module = (name: string, opts: { failStart?: boolean; failStop?: boolean } = {}): AgentModule => ({
    name,
    start: async () => {
      calls.push(`start ${name}`);
      if (opts.failStart) throw new Error(`${name} cannot start`);
    },
    stop: () => {
      calls.push(`stop ${name}`);
      if (opts.failStop) throw new Error(`${name} cannot stop`);
    },
  });
  return { calls, module };
}

describe('agent modules', () => {
  it('starts modules in order and stops every one in reverse, once', async () => {
    const { calls, module } = recorder();
    const running = await startModules([module('a'), module('b'), module('c')], log);
    await Promise.all([running.stop(), running.stop()]);
    expect(calls).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  it('stops the modules already started when one fails to start, and rethrows', async () => {
    const { calls, module } = recorder();
    await expect(startModules([module('a'), module('b', { failStart: true }), module('c')], log)).rejects.toThrow(
      'b cannot start',
    );
    expect(calls).toEqual(['start a', 'start b', 'stop a']);
  });

  it('keeps stopping the others when one module fails to stop', async () => {
    const { calls, module } = recorder();
    const running = await startModules([module('a'), module('b', { failStop: true }), module('c')], log);
    await running.stop();
    expect(calls.slice(3)).toEqual(['stop c', 'stop b', 'stop a']);
  });
});

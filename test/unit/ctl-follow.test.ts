import { describe, expect, it } from 'vitest';
import { follow, type Progress } from '../../src/cli/ctl/follow.js';
import type { CtlConnection, EventListener } from '../../src/io/local/ctlClient.js';

/** A connection that answers status polls from a script and lets the test send events. */
function fakeConnection(statuses: Array<Record<string, unknown>>) {
  const listeners = new Set<EventListener>();
  let i = 0;
  const conn: CtlConnection = {
    request: async () => statuses[Math.min(i++, statuses.length - 1)],
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {},
  };
  const send = (event: string, payload: unknown) => {
    for (const listener of listeners) listener(event, payload);
  };
  return { conn, send };
}

const base = (kind: 'create' | 'command' | 'delete', topic: string, signal = new AbortController().signal) => {
  const progress: Progress[] = [];
  let id = 0;
  return {
    progress,
    options: {
      kind,
      topic,
      deviceId: 'plc1',
      correlationId: 42,
      waitMs: 5_000,
      onProgress: (p: Progress) => progress.push(p),
      signal,
      pollMs: 1,
      nextId: () => ++id,
      startedAt: Date.now(),
    },
  };
};

describe('following a long operation', () => {
  it('shows each new step of a create once and ends when the vPLC runs', async () => {
    const { conn } = fakeConnection([
      { status: 'creating', state: 'creating.image', step: 'image' },
      { status: 'creating', state: 'creating.image', step: 'image' },
      { status: 'creating', state: 'creating.start', step: 'start' },
      { status: 'success', state: 'running' },
    ]);
    const { progress, options } = base('create', 'create_new_runtime');
    expect(await follow(conn, options)).toMatchObject({ kind: 'done', message: 'plc1 is running' });
    expect(progress.map((p) => [p.state, p.step])).toEqual([
      ['creating.image', 'image'],
      ['creating.start', 'start'],
      ['running', null],
    ]);
  });

  it('ends a create that failed with its reason', async () => {
    const { conn } = fakeConnection([{ status: 'error', state: 'failed', error: 'image missing' }]);
    expect(await follow(conn, base('create', 'create_new_runtime').options)).toEqual(
      expect.objectContaining({ kind: 'failed', message: 'creating plc1 failed: image missing' }),
    );
  });

  it('ends a stop with its completion event, not before', async () => {
    const { conn, send } = fakeConnection([{ status: 'success', state: 'stopping.stop', step: 'stop' }]);
    const pending = follow(conn, base('command', 'stop_device').options);
    setTimeout(() => send('stop_device', { correlation_id: 41, success: true }), 5);
    setTimeout(() => send('stop_device', { correlation_id: 42, success: false, error: 'engine gone' }), 20);
    expect(await pending).toMatchObject({ kind: 'failed', message: 'stop of plc1 failed: engine gone' });
  });

  it('stops following on Ctrl-C and says the operation goes on', async () => {
    const controller = new AbortController();
    const { conn } = fakeConnection([{ status: 'deleting', state: 'deleting.stop', step: 'stop' }]);
    const pending = follow(conn, base('delete', 'delete_device', controller.signal).options);
    setTimeout(() => controller.abort(), 10);
    expect(await pending).toEqual({
      kind: 'interrupted',
      message: 'stopped following plc1; the operation goes on in the agent: ctl status plc1',
    });
  });

  it('gives up waiting after the time given, and says where to look', async () => {
    const { conn } = fakeConnection([{ status: 'deleting', state: 'deleting.stop', step: 'stop' }]);
    const { options } = base('delete', 'delete_device');
    expect(await follow(conn, { ...options, waitMs: 20 })).toMatchObject({
      kind: 'gave_up',
      message: expect.stringMatching(/^plc1 is still deleting\.stop after 0 s; the operation goes on/),
    });
  });
});

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { gatedDispatch, ReconcileGate } from '../../src/actors/boot/reconcileGate.js';

const log = pino({ level: 'silent' });
const ENGINE = 'unix:///nonexistent/docker.sock';

function harness(gate = new ReconcileGate()) {
  const routed: string[] = [];
  const emitted: Array<{ event: string; payload: object }> = [];
  const dispatch = gatedDispatch((topic) => routed.push(topic), gate, ENGINE, log);
  const ask = (topic: string, payload: object) =>
    new Promise<unknown>((resolve) => {
      dispatch(topic, [payload, resolve], (event, p) => emitted.push({ event, payload: p }));
      // Routed requests are answered by the (absent) router: resolve for the test once routed.
      setTimeout(() => routed.includes(topic) && resolve('routed'), 20);
    });
  return { gate, routed, emitted, ask };
}

describe('the reconcile gate of local mode', () => {
  it('serves topics that need no engine at once', async () => {
    const { ask, routed } = harness();
    expect(await ask('get_host_interfaces', { correlation_id: 1 })).toBe('routed');
    expect(routed).toEqual(['get_host_interfaces']);
  });

  it('answers a topic needing Docker with the engine-unavailable sentence while the engine is silent', async () => {
    const { ask, gate, routed } = harness();
    gate.engineUnavailable('connect ENOENT /nonexistent/docker.sock');
    expect(await ask('get_device_status', { correlation_id: 5, device_id: 'plc1' })).toEqual({
      status: 'error',
      error:
        'Docker engine unavailable at unix:///nonexistent/docker.sock: get_device_status needs it, and the agent ' +
        'has not read its runtimes yet (connect ENOENT /nonexistent/docker.sock). Start dockerd or point ' +
        'DOCKER_HOST at its socket; the agent connects by itself once the engine answers.',
      action: 'get_device_status',
      correlation_id: 5,
    });
    expect(routed).toEqual([]);
  });

  it('also sends the completion event a refused start waits for', async () => {
    const { ask, gate, emitted } = harness();
    gate.engineUnavailable('connect ECONNREFUSED');
    await ask('start_device', { correlation_id: 6, device_id: 'plc1' });
    expect(emitted).toEqual([
      {
        event: 'start_device',
        payload: expect.objectContaining({ correlation_id: 6, device_id: 'plc1', success: false }),
      },
    ]);
  });

  it('holds a request while the first reconciliation runs and serves it once it is done', async () => {
    const { ask, gate, routed } = harness();
    const pending = ask('list_devices', { correlation_id: 7 });
    await new Promise((r) => setTimeout(r, 10));
    expect(routed).toEqual([]);
    gate.open();
    expect(await pending).toBe('routed');
  });

  it('serves what it refused once the engine is back and reconciliation is done', async () => {
    const { ask, gate, routed } = harness();
    gate.engineUnavailable('connect ECONNREFUSED');
    expect(await ask('get_device_status', { correlation_id: 8, device_id: 'plc1' })).toMatchObject({ status: 'error' });
    gate.open();
    expect(await ask('get_device_status', { correlation_id: 9, device_id: 'plc1' })).toBe('routed');
    expect(routed).toEqual(['get_device_status']);
  });

  it('says the agent is still reading its runtimes when the first attempt takes long', async () => {
    const gate = new ReconcileGate();
    expect(await gate.admit(10)).toEqual({ open: false, engineProblem: null });
  });
});

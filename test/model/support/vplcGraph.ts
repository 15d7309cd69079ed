import type { VplcContext, VplcEvent, VplcInput, VplcSnapshot } from '../../../src/machines/vplc/machine.js';
import type { VplcSpec } from '../../../src/model/vplc.js';

/**
 * What the graph traversal of the vPLC machine needs: the events to try in each state and a state
 * serialisation that keeps what decisions depend on and drops counters and texts (else the graph never ends).
 */

export const T0 = Date.parse('2026-01-20T10:00:00.000Z');
export const MODEL_SPEC: VplcSpec = {
  name: 'plc-1',
  vnics: [{ name: 'lan', parent_interface: 'eth0', network_mode: 'dhcp' }],
  serials: [],
};

/** A budget of one restart keeps the crash counter small and still reaches "budget exhausted". */
export function modelInput(initial: VplcInput['initial'], extra: Partial<VplcInput> = {}): VplcInput {
  return {
    spec: MODEL_SPEC,
    budget: { max: 1, windowMs: 10 * 60_000 },
    random: () => 0.5,
    now: () => T0,
    initial,
    containerId: initial === 'running' || initial === 'stopped' || initial === 'failed' ? 'c-adopted' : null,
    startedAt: initial === 'running' ? new Date(T0 - 1_000).toISOString() : null,
    ...extra,
  };
}

export const OUTPUTS: Record<string, unknown> = {
  prepare: undefined,
  createNetworks: undefined,
  createContainer: { containerId: 'c-1' },
  startContainer: { containerId: 'c-1', startedAt: new Date(T0).toISOString() },
  attachAgent: undefined,
  startDhcp: undefined,
  stopDhcp: undefined,
  dedicateNic: undefined,
  returnNic: undefined,
  stopContainer: undefined,
  removeContainer: undefined,
  removeNetworks: undefined,
  moveNetworks: { conflicts: [] },
};

/** Outputs worth trying besides the plain one: a move that could not keep a static IP. */
export const EXTRA_OUTPUTS: Record<string, unknown[]> = {
  moveNetworks: [
    {
      conflicts: [
        'vNIC lan of plc-1: static IP 192.168.1.77 is outside the new subnet 10.0.0.0/24 of eth0; send a new configuration',
      ],
    },
  ],
};

/** Sample event for one event descriptor the state handles. */
export function sampleEvents(descriptor: string): VplcEvent[] {
  const done = /^xstate\.done\.actor\.(.+)$/.exec(descriptor);
  if (done) {
    const outputs = [OUTPUTS[done[1]!], ...(EXTRA_OUTPUTS[done[1]!] ?? [])];
    return outputs.map((output) => ({ type: descriptor, output }) as unknown as VplcEvent);
  }
  const error = /^xstate\.error\.actor\.(.+)$/.exec(descriptor);
  if (error) return [{ type: descriptor, error: new Error(`${error[1]} failed`) } as unknown as VplcEvent];
  if (descriptor.startsWith('xstate.after.')) return [{ type: descriptor } as unknown as VplcEvent];
  switch (descriptor) {
    case 'START':
    case 'STOP':
    case 'RESTART':
    case 'DELETE':
    case 'container.removed':
      return [{ type: descriptor }];
    case 'container.started':
      return [{ type: descriptor, containerId: 'c-1', startedAt: new Date(T0).toISOString() }];
    case 'container.died':
      return [{ type: descriptor, exitCode: 137, oomKilled: true, at: new Date(T0).toISOString() }];
    case 'network.changed':
      return [{ type: descriptor, parentInterface: 'eth0' }];
    case 'dhcp.lease':
      return [{ type: descriptor, vnicName: 'lan', ip: '192.168.1.77', gateway: '192.168.1.1' }];
    default:
      throw new Error(`no sample event for ${descriptor}`);
  }
}

export function ownEvents(snapshot: VplcSnapshot): VplcEvent[] {
  const nodes = (snapshot as unknown as { _nodes: Array<{ ownEvents: string[] }> })._nodes;
  const descriptors = [...new Set(nodes.flatMap((n) => n.ownEvents))].sort();
  return descriptors.flatMap(sampleEvents);
}

/** The part of context that decisions depend on. Texts, ids, times and counters are left out. */
export function decisionContext(c: VplcContext) {
  return {
    desired: c.desired,
    operation: c.operation,
    deleteRequested: c.deleteRequested,
    hasContainer: c.containerId !== null,
    pendingExit: c.pendingExit !== null,
    containerGone: c.containerGone,
    restarts: c.restarts.length,
    restartScheduled: c.restartAt !== null,
    dhcpWarning: c.dhcpWarning,
    networkWarning: c.networkWarning,
    networkChangePending: c.networkChanges.length > 0,
    failed: c.failure !== null,
  };
}

export function serializeVplc(snapshot: VplcSnapshot): string {
  return JSON.stringify({ value: snapshot.value, context: decisionContext(snapshot.context) });
}

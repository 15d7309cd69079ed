import type { VplcOpName, VplcOps } from '../../../src/machines/vplc/ports.js';
import type { VplcSpec } from '../../../src/model/vplc.js';

/** One call a machine made to the outside world, held open until the test settles it. */
export interface FakeCall {
  op: VplcOpName;
  vplc: string;
  settled: boolean;
  resolve(output?: unknown): void;
  reject(error: Error): void;
}

/**
 * VplcOps whose every call stays in flight until the test resolves or rejects it. This is what lets the
 * model tests choose the order of completions and facts, and count the calls really in flight (not just
 * the invoked actors XState still shows: a call whose state was left keeps running in the real world).
 */
export class FakeOps {
  readonly calls: FakeCall[] = [];

  readonly ops: VplcOps = {
    prepare: (spec) => this.call('prepare', spec),
    createNetworks: (spec) => this.call('createNetworks', spec),
    createContainer: (spec) => this.call('createContainer', spec),
    startContainer: (name) => this.call('startContainer', name),
    attachAgent: (name) => this.call('attachAgent', name),
    startDhcp: (spec) => this.call('startDhcp', spec),
    stopDhcp: (spec) => this.call('stopDhcp', spec),
    dedicateNic: (spec) => this.call('dedicateNic', spec),
    returnNic: (spec) => this.call('returnNic', spec),
    stopContainer: (name) => this.call('stopContainer', name),
    removeContainer: (name) => this.call('removeContainer', name),
    removeNetworks: (spec) => this.call('removeNetworks', spec),
    moveNetworks: (request) => this.call('moveNetworks', request.spec),
  };

  pending(vplc?: string): FakeCall[] {
    return this.calls.filter((c) => !c.settled && (vplc === undefined || c.vplc === vplc));
  }

  /** The single call in flight for `vplc` with this op; fails the test when there is not exactly one. */
  only(op: VplcOpName, vplc?: string): FakeCall {
    const matching = this.pending(vplc).filter((c) => c.op === op);
    if (matching.length !== 1) {
      throw new Error(`expected exactly one ${op} in flight${vplc ? ` for ${vplc}` : ''}, found ${matching.length}`);
    }
    return matching[0]!;
  }

  private call<T>(op: VplcOpName, arg: VplcSpec | string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call: FakeCall = {
        op,
        vplc: typeof arg === 'string' ? arg : arg.name,
        settled: false,
        resolve: (output) => {
          if (call.settled) throw new Error(`${op} settled twice`);
          call.settled = true;
          resolve(output as T);
        },
        reject: (error) => {
          if (call.settled) throw new Error(`${op} settled twice`);
          call.settled = true;
          reject(error);
        },
      };
      this.calls.push(call);
    });
  }
}

/** Let promise callbacks and the actors' reactions to them run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

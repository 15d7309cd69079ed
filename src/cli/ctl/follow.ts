import type { CtlConnection } from '../../io/local/ctlClient.js';
import type { FollowKind } from './args.js';

/**
 * Follows a long operation after its ack, the way the cloud does: status polls show each lifecycle step as it
 * happens; start, stop and restart end with their completion event, create with `running`, delete with
 * `not_found`. ctl stops waiting after `waitMs` or on Ctrl-C; the operation itself goes on in the agent.
 */

type Reply = Record<string, unknown>;

export interface Progress {
  /** Seconds since the request was sent. */
  at: number;
  state: string;
  step: string | null;
  status: string;
}

export type FollowOutcome =
  | { kind: 'done'; message: string; status: Reply | null }
  | { kind: 'failed'; message: string; status: Reply | null }
  | { kind: 'gave_up'; message: string }
  | { kind: 'interrupted'; message: string };

export interface FollowOptions {
  kind: FollowKind;
  topic: string;
  deviceId: string;
  correlationId: unknown;
  waitMs: number;
  /** Called for every change of state or step. */
  onProgress: (p: Progress) => void;
  /** Aborted by Ctrl-C. */
  signal: AbortSignal;
  pollMs?: number;
  requestTimeoutMs?: number;
  nextId: () => number;
  /** When the request was sent (ms, Date.now()). */
  startedAt: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);

function failureOf(status: Reply): string {
  const failure = status.failure as { reason?: string } | undefined;
  return text(status.error) ?? text(failure?.reason) ?? text(status.last_error) ?? 'no reason given';
}

/** Whether this status ends the operation, and how. */
function verdict(kind: FollowKind, id: string, status: Reply): FollowOutcome | null {
  const state = text(status.state) ?? '';
  if (kind === 'delete') {
    if (status.status === 'not_found') return { kind: 'done', message: `${id} is deleted`, status };
    if (status.status === 'error' || state.startsWith('failed')) {
      return { kind: 'failed', message: `deleting ${id} failed: ${failureOf(status)}`, status };
    }
    return null;
  }
  if (kind === 'create') {
    if (status.status === 'success' && state === 'running')
      return { kind: 'done', message: `${id} is running`, status };
    if (status.status === 'error' || state.startsWith('failed')) {
      return { kind: 'failed', message: `creating ${id} failed: ${failureOf(status)}`, status };
    }
    if (status.status === 'not_found') {
      return { kind: 'failed', message: `${id} is gone: its create was rolled back or it was deleted`, status };
    }
    return null;
  }
  // Start, stop and restart end with their event; a failed state on the way ends them too.
  if (state.startsWith('failed')) return { kind: 'failed', message: `${id} failed: ${failureOf(status)}`, status };
  return null;
}

export async function follow(conn: CtlConnection, o: FollowOptions): Promise<FollowOutcome> {
  const pollMs = o.pollMs ?? 500;
  const requestTimeoutMs = o.requestTimeoutMs ?? 15_000;
  const deadline = o.startedAt + o.waitMs;
  let last = '';
  let event: Reply | null = null;
  const off =
    o.kind === 'command'
      ? conn.onEvent((name, payload) => {
          const p = payload as Reply | null;
          if (name === o.topic && p && p.correlation_id === o.correlationId) event = p;
        })
      : () => {};
  const poll = async (): Promise<Reply> => {
    const status = (await conn.request(
      'get_device_status',
      { correlation_id: o.nextId(), device_id: o.deviceId },
      requestTimeoutMs,
    )) as Reply;
    const state = text(status.state) ?? String(status.status);
    const step = text(status.step);
    const key = `${state}|${step ?? ''}|${String(status.status)}`;
    if (key !== last) {
      last = key;
      o.onProgress({ at: (Date.now() - o.startedAt) / 1000, state, step, status: String(status.status) });
    }
    return status;
  };
  try {
    for (;;) {
      if (o.signal.aborted) {
        return {
          kind: 'interrupted',
          message: `stopped following ${o.deviceId}; the operation goes on in the agent: ctl status ${o.deviceId}`,
        };
      }
      const seen = event as Reply | null;
      const status = await poll();
      const state = text(status.state) ?? String(status.status);
      const done = verdict(o.kind, o.deviceId, status);
      if (done) return done;
      // The status read after the event shows where the operation left the vPLC.
      const ended = seen;
      if (ended) {
        const verb = o.topic.replace(/_device$/, '');
        return ended.success === true
          ? { kind: 'done', message: `${verb} of ${o.deviceId} done: ${lifecycleWords(status)}`, status }
          : {
              kind: 'failed',
              message: `${verb} of ${o.deviceId} failed: ${text(ended.error) ?? 'no reason given'}`,
              status,
            };
      }
      if (Date.now() >= deadline) {
        return {
          kind: 'gave_up',
          message:
            `${o.deviceId} is still ${state} after ${Math.round(o.waitMs / 1000)} s; the operation goes on in ` +
            `the agent: ctl status ${o.deviceId}`,
        };
      }
      await sleep(pollMs, o.signal);
    }
  } finally {
    off();
  }
}

function lifecycleWords(status: Reply): string {
  const state = text(status.state) ?? String(status.status);
  return state === 'running' ? (status.ready === true ? 'running, ready' : 'running') : state;
}

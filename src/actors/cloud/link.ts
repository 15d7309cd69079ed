import type { Logger } from 'pino';
import { createActor, fromCallback, fromPromise, type InspectionEvent } from 'xstate';
import type { CloudConnector, CloudSession } from '../../io/cloud/connection.js';
import { HEARTBEAT_EVENT, HEARTBEAT_INTERVAL_MS } from '../../io/cloud/heartbeat.js';
import { type LinkEvent, type LinkSession, linkMachine } from '../../machines/link.machine.js';

export type Dispatch = (topic: string, args: unknown[], emit: (event: string, payload: object) => void) => void;

export interface CloudLinkOptions {
  connector: CloudConnector;
  /** Routes one incoming topic; replies through the ack in `args`, later events through `emit`. */
  dispatch: Dispatch;
  /** Builds one heartbeat payload (host metrics are read asynchronously, never blocking the loop). */
  heartbeat: () => Promise<object>;
  log: Logger;
  random?: () => number;
  heartbeatIntervalMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Events emitted while offline are kept (oldest dropped past this) and sent on the next connection. */
  outboxLimit?: number;
  /**
   * The link's actor failed (a bug): without it the agent would stay up but useless, so this is reported as fatal
   * and the agent exits for its container's restart policy (docs/decisions.md#a-fatal-fault-ends-the-process).
   */
  onFatal?: (what: string, error: unknown) => void;
  /** Each heartbeat sent, with how many ms after its due time it went out (metrics). */
  onHeartbeat?: (latenessMs: number) => void;
}

export type CloudLinkState = 'connecting' | 'online' | 'backingOff' | 'stopped';

/**
 * Runs the cloud-link machine with real sessions. Emits that happen while offline (e.g. the
 * `start_device` completion event of a long operation) wait in a bounded outbox instead of being lost.
 */
export class CloudLink {
  private readonly actor;
  private readonly outbox: Array<{ event: string; payload: object }> = [];
  private live: CloudSession | null = null;
  private readonly onlineWaiters = new Set<() => void>();
  private readonly stateListeners = new Set<(state: CloudLinkState) => void>();

  constructor(private readonly opts: CloudLinkOptions) {
    const { log } = opts;
    const interval = opts.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    const machine = linkMachine.provide({
      actors: {
        connect: fromPromise<LinkSession, void>(async () => {
          log.info('Attempting to connect to the cloud');
          return opts.connector.connect();
        }),
        session: fromCallback<LinkEvent, LinkSession>(({ input, sendBack }) => {
          const session = input as CloudSession;
          this.live = session;
          session.onIncoming((topic, args) =>
            opts.dispatch(topic, args, (event, payload) => this.emit(event, payload)),
          );
          session.onClosed((reason) => sendBack({ type: 'CONNECTION_LOST', reason }));
          log.info({ session: session.id }, 'Connection established with the server.');
          this.flushOutbox(session);
          for (const wake of this.onlineWaiters) wake();
          this.onlineWaiters.clear();
          const stopHeartbeats = startHeartbeatLoop(session, opts.heartbeat, interval, log, opts.onHeartbeat);
          return () => {
            stopHeartbeats();
            if (this.live === session) this.live = null;
            session.close();
          };
        }),
      },
    });
    this.actor = createActor(machine, {
      input: { random: opts.random, baseDelayMs: opts.baseDelayMs, maxDelayMs: opts.maxDelayMs },
    });
    let previous: string | null = null;
    this.actor.subscribe({
      next: (snapshot) => {
        const state = String(snapshot.value);
        if (state === previous) return;
        previous = state;
        for (const listener of this.stateListeners) listener(state as CloudLinkState);
        if (state === 'backingOff') {
          log.warn(
            {
              retryInMs: snapshot.context.retryInMs,
              attempt: snapshot.context.attempt,
              error: snapshot.context.lastError,
            },
            'cloud link down; reconnecting after backoff',
          );
        } else {
          log.debug({ state }, 'cloud link state');
        }
      },
      error: (error) => {
        log.fatal({ err: error }, 'cloud link actor failed');
        opts.onFatal?.('the cloud link', error);
      },
    });
  }

  start(): void {
    this.actor.start();
  }

  stop(): void {
    this.actor.send({ type: 'STOP' });
    this.actor.stop();
  }

  state(): CloudLinkState {
    return String(this.actor.getSnapshot().value) as CloudLinkState;
  }

  /** Called with every new state of the link (metrics, the inspector). */
  onState(listener: (state: CloudLinkState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** The link's actor, for the inspector's list of live actors. */
  actorRef() {
    return this.actor;
  }

  /** Dev tooling: every XState inspection event of the link's actor system; nothing is produced while nobody listens. */
  inspect(observer: (event: InspectionEvent) => void): () => void {
    const sub = this.actor.system.inspect(observer);
    return () => sub.unsubscribe();
  }

  /** Resolves on the next (or current) live connection. */
  whenOnline(): Promise<void> {
    if (this.live) return Promise.resolve();
    return new Promise((resolve) => this.onlineWaiters.add(resolve));
  }

  /** Sends an unsolicited event now, or as soon as the link is back. */
  emit(event: string, payload: object): void {
    if (this.live?.emit(event, payload)) return;
    this.outbox.push({ event, payload });
    const limit = this.opts.outboxLimit ?? 1_000;
    if (this.outbox.length > limit) {
      const dropped = this.outbox.splice(0, this.outbox.length - limit);
      this.opts.log.warn({ dropped: dropped.length }, 'cloud outbox full; dropped the oldest events');
    }
  }

  private flushOutbox(session: CloudSession): void {
    while (this.outbox.length > 0) {
      const next = this.outbox[0]!;
      if (!session.emit(next.event, next.payload)) return;
      this.outbox.shift();
    }
  }
}

/**
 * One heartbeat every `intervalMs`, never overlapping: the next tick is scheduled only after the
 * previous one finished, at the original cadence when the metrics were quick.
 */
function startHeartbeatLoop(
  session: CloudSession,
  build: () => Promise<object>,
  intervalMs: number,
  log: Logger,
  onSent?: (latenessMs: number) => void,
): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let due = 0;
  const schedule = (delay: number) => {
    due = Date.now() + delay;
    timer = setTimeout(tick, delay);
  };
  const tick = async () => {
    const started = Date.now();
    try {
      const payload = await build();
      if (stopped) return;
      if (!session.emit(HEARTBEAT_EVENT, payload)) log.debug('heartbeat skipped: connection already closed');
      else onSent?.(Date.now() - due);
    } catch (error) {
      log.warn({ err: error }, 'Failed to build heartbeat');
    }
    if (!stopped) schedule(Math.max(0, intervalMs - (Date.now() - started)));
  };
  schedule(intervalMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

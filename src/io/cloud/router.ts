/**
 * Routes one incoming cloud topic to its handler and answers through the Socket.IO acknowledgement.
 *
 * Guarantees the old agent lacked (its failing handlers sent no ack at all): every request that asks for an ack gets
 * exactly one, also when the payload is malformed, the topic unknown, the handler throws or hangs. Repeated mutating
 * commands are answered from the idempotency cache. Requests are logged by topic, correlation id, duration and status
 * only: payloads may carry credentials (run_command headers), so they are never logged.
 */
import type { Logger } from 'pino';
import type { IdempotencyCache, Outcome } from './idempotency.js';
import { findTopic, isMutating, type TopicName, type TopicRequests, type TopicResults } from './topics/index.js';
import { isJsonObject, NOT_AN_OBJECT_ERROR, validateRequest } from './validation.js';
import { errorText } from '../../model/errors.js';
import { describeShapeProblem, MAX_JSON_DEPTH, MAX_REQUEST_VALUES, measureJson } from '../../model/jsonShape.js';

export const DEFAULT_TOPIC_TIMEOUT_MS = 30_000;

export type Emit = (event: string, payload: object) => void;

export interface TopicContext {
  /** Sends an event to the cloud (e.g. the start/stop/restart_device outcome); usable after the ack too. */
  emit: Emit;
  /** Aborted when the router stops waiting for this handler (timeout): stop work and undo what is half done. */
  signal: AbortSignal;
  log: Logger;
}

export type TopicHandler<K extends TopicName> = (
  request: TopicRequests[K],
  ctx: TopicContext,
) => Promise<TopicResults[K]>;

export type TopicHandlers = { [K in TopicName]: TopicHandler<K> };

export interface TopicRouterOptions {
  handlers: TopicHandlers;
  log: Logger;
  /** How long a handler may take before the request is answered with an error. Default 30 s. */
  timeoutMs?: number;
  /** Per-topic overrides of `timeoutMs`. */
  topicTimeoutsMs?: Partial<Record<TopicName, number>>;
  /** Answers repeated mutating commands with their first reply; without it every request runs. */
  idempotency?: IdempotencyCache;
  now?: () => number;
}

type Reply = Record<string, unknown>;

export class TopicRouter {
  private readonly handlers: TopicHandlers;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly topicTimeoutsMs: Partial<Record<TopicName, number>>;
  private readonly idempotency: IdempotencyCache | undefined;
  private readonly now: () => number;

  constructor(opts: TopicRouterOptions) {
    this.handlers = opts.handlers;
    this.log = opts.log;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TOPIC_TIMEOUT_MS;
    this.topicTimeoutsMs = opts.topicTimeoutsMs ?? {};
    this.idempotency = opts.idempotency;
    this.now = opts.now ?? Date.now;
  }

  /** Names of every topic this router answers. */
  topics(): string[] {
    return Object.keys(this.handlers);
  }

  /** Give it the raw Socket.IO handler arguments; calls the ack (the last arg, when it is a function) exactly once. */
  async dispatch(topic: string, args: unknown[], emit: Emit): Promise<void> {
    const started = this.now();
    const last = args.at(-1);
    const ack = typeof last === 'function' ? (last as (reply: unknown) => void) : null;
    const payloads = ack ? args.slice(0, -1) : args;
    const payload = payloads.length === 1 ? payloads[0] : undefined;
    const source = payloads.find(isJsonObject);
    // Echoed as sent (any JSON value), or null.
    const correlationId = source?.correlation_id ?? null;

    let reply: Reply;
    let replayed = false;
    const definition = findTopic(topic);
    if (!definition) {
      reply = errorReply(topic, correlationId, `Unknown topic ${topic}: this agent does not handle it`);
    } else if (!isJsonObject(payload)) {
      reply = errorReply(topic, correlationId, NOT_AN_OBJECT_ERROR);
    } else {
      // Before anything walks the payload (validation, the idempotency key, the handler): depth and size bounded.
      const shape = measureJson(payload, { maxDepth: MAX_JSON_DEPTH, maxValues: MAX_REQUEST_VALUES });
      const validation = shape.ok
        ? validateRequest(definition.name, payload)
        : { ok: false as const, error: `Validation error: ${describeShapeProblem(shape.problem, 'the request')}` };
      if (!validation.ok) {
        reply = errorReply(topic, correlationId, validation.error);
      } else {
        const request = validation.value;
        const mutating = isMutating(definition, request);
        const run = () => this.invoke(definition.name, request, correlationId, mutating, emit);
        if (mutating && correlationId !== null && this.idempotency) {
          ({ reply, replayed } = await this.idempotency.run(topic, correlationId, payload, run));
        } else {
          ({ reply } = await run());
        }
      }
    }

    const status = typeof reply.status === 'string' ? reply.status : 'ok';
    const fields = { topic, correlation_id: correlationId, duration_ms: this.now() - started, status };
    if (status === 'error') {
      this.log.info({ ...fields, replayed, error: reply.error }, 'request answered with an error');
    } else {
      this.log.info({ ...fields, replayed }, 'request answered');
    }

    if (!ack) {
      this.log.debug({ topic, correlation_id: correlationId }, 'the cloud asked for no ack; reply dropped');
      return;
    }
    try {
      ack(reply);
    } catch (err) {
      this.log.warn({ topic, correlation_id: correlationId, err }, 'could not send the ack');
    }
  }

  private timeoutFor(topic: TopicName): number {
    return this.topicTimeoutsMs[topic] ?? this.timeoutMs;
  }

  /** Runs the handler under its timeout. Never rejects; only a reply the handler produced is cacheable. */
  private invoke<K extends TopicName>(
    topic: K,
    request: TopicRequests[K],
    correlationId: unknown,
    mutating: boolean,
    emit: Emit,
  ): Promise<Outcome> {
    const log = this.log.child({ topic, correlation_id: correlationId });
    const controller = new AbortController();
    const timeoutMs = this.timeoutFor(topic);
    const handler = this.handlers[topic] as TopicHandler<K>;

    return new Promise<Outcome>((resolve) => {
      let finished = false;
      const timer = setTimeout(() => {
        finished = true;
        const seconds = timeoutMs / 1000;
        const tail = mutating
          ? 'the agent stopped waiting and cancelled it; check get_device_status before sending it again'
          : 'the host or its Docker engine may be overloaded; try again in a moment';
        controller.abort(new Error(`${topic} did not finish within ${seconds} s`));
        log.warn({ timeout_ms: timeoutMs }, 'handler timed out; cancelled');
        resolve({
          reply: errorReply(topic, correlationId, `${topic} did not finish within ${seconds} s; ${tail}`),
          cacheable: false,
        });
      }, timeoutMs);

      const late = (what: string) => log.warn(`handler ${what} after its timeout; ignored`);

      new Promise<Record<string, unknown>>((settle) =>
        settle(handler(request, { emit, signal: controller.signal, log })),
      ).then(
        (result) => {
          if (finished) return late('finished');
          finished = true;
          clearTimeout(timer);
          if (!isJsonObject(result)) {
            log.error('handler returned no reply object');
            resolve({
              reply: errorReply(topic, correlationId, `${topic} failed: the agent produced no reply; report this bug`),
              cacheable: false,
            });
            return;
          }
          resolve({ reply: successReply(topic, correlationId, result), cacheable: true });
        },
        (err: unknown) => {
          if (finished) return late('failed');
          finished = true;
          clearTimeout(timer);
          log.error({ err }, 'handler failed');
          const message = errorText(err);
          resolve({ reply: errorReply(topic, correlationId, `${topic} failed: ${message}`), cacheable: false });
        },
      );
    });
  }
}

function errorReply(topic: string, correlationId: unknown, error: string): Reply {
  return { status: 'error', error, action: topic, correlation_id: correlationId };
}

/** `action` and `correlation_id` first and authoritative, then what the handler returned. */
function successReply(topic: string, correlationId: unknown, result: Record<string, unknown>): Reply {
  const reply: Reply = { action: topic, correlation_id: correlationId };
  for (const [key, value] of Object.entries(result)) {
    if (key !== 'action' && key !== 'correlation_id') reply[key] = value;
  }
  return reply;
}

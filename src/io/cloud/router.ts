/**
 * Routes one incoming cloud topic to its handler and answers through the Socket.IO acknowledgement.
 *
 * Guarantees the old agent lacked (its failing handlers sent no ack at all): every request that asks for an ack gets
 * exactly one, also when the payload is malformed, the topic unknown, the handler throws or hangs. Repeated mutating
 * commands are answered from the idempotency cache. Requests are logged by topic, correlation id, duration and status
 * only (changes at info, reads at debug): payloads may carry credentials (run_command headers), so they are never
 * logged, and what is echoed of them is cut short.
 */
import type { Logger } from 'pino';
import type { IdempotencyCache, Outcome } from './idempotency.js';
import { findTopic, isMutating, type TopicName, type TopicRequests, type TopicResults } from './topics/index.js';
import { isJsonObject, NOT_AN_OBJECT_ERROR, validateRequest } from './validation.js';
import { errorText } from '../../model/errors.js';
import { echo, truncate } from '../../model/echo.js';
import { describeShapeProblem, MAX_JSON_DEPTH, MAX_REQUEST_VALUES, measureJson } from '../../model/jsonShape.js';

export const DEFAULT_TOPIC_TIMEOUT_MS = 30_000;

export type Emit = (event: string, payload: object) => void;

export interface TopicContext {
  /** Sends an event to the cloud (e.g. the start/stop/restart_device outcome); usable after the ack too. */
  emit: Emit;
  /** Aborted when the router stops waiting for this handler (timeout): stop work and undo what is half done. */
  signal: AbortSignal;
  /**
   * Says that this reply refuses the command for a passing reason (a limit reached, a runtime not ready) without
   * carrying it out: a repeat with the same correlation_id runs again instead of being answered with this reply.
   */
  transient(): void;
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
  /** Told of every request once it has its reply (metrics): the topic as sent, seconds taken, status error. */
  observe?: (topic: string, seconds: number, error: boolean) => void;
}

type Reply = Record<string, unknown>;

/** A request's reply, whether it repeats an earlier one, and whether the request asked for a change. */
interface Answer {
  reply: Reply;
  replayed: boolean;
  mutating: boolean;
}

export class TopicRouter {
  private readonly handlers: TopicHandlers;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly topicTimeoutsMs: Partial<Record<TopicName, number>>;
  private readonly idempotency: IdempotencyCache | undefined;
  private readonly now: () => number;
  private readonly observe: TopicRouterOptions['observe'];

  constructor(opts: TopicRouterOptions) {
    this.handlers = opts.handlers;
    this.log = opts.log;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TOPIC_TIMEOUT_MS;
    this.topicTimeoutsMs = opts.topicTimeoutsMs ?? {};
    this.idempotency = opts.idempotency;
    this.now = opts.now ?? Date.now;
    this.observe = opts.observe;
  }

  /** Names of every topic this router answers. */
  topics(): string[] {
    return Object.keys(this.handlers);
  }

  /**
   * Give it the raw Socket.IO handler arguments; calls the ack (the last arg, when it is a function) exactly once.
   * Never rejects.
   */
  async dispatch(event: unknown, args: unknown[], emit: Emit): Promise<void> {
    try {
      await this.handle(event, args, emit);
    } catch (err) {
      this.log.error({ err }, 'request handling failed after its reply');
    }
  }

  private async handle(event: unknown, args: unknown[], emit: Emit): Promise<void> {
    // Socket.IO also delivers events named by a number.
    const topic = typeof event === 'string' ? event : String(event);
    const started = this.now();
    const last = args.at(-1);
    const ack = typeof last === 'function' ? (last as (reply: unknown) => void) : null;
    const payloads = ack ? args.slice(0, -1) : args;
    const source = payloads.find(isJsonObject);
    // Echoed as sent (any JSON value) when it is small enough to repeat, else null.
    const correlationId = echoableId(source?.correlation_id ?? null);

    let answer: Answer;
    try {
      answer = await this.answer(topic, payloads, correlationId, emit);
    } catch (err) {
      // A bug in validation or in the cache must still produce the one reply.
      this.log.error({ topic: truncate(topic), correlation_id: correlationId, err }, 'could not handle a request');
      answer = {
        reply: seal(topic, correlationId, errorReply(topic, correlationId, `${echo(topic)} failed: ${bugText(err)}`))
          .reply,
        replayed: false,
        mutating: false,
      };
    }
    const { reply, replayed, mutating } = answer;

    // Changes are worth a line in the normal log; reads (status polls every few seconds) and refusals of unknown or
    // malformed topics only in the debug log, so that a busy or hostile cloud cannot flood the normal one.
    const status = typeof reply.status === 'string' ? reply.status : 'ok';
    const fields = { topic: truncate(topic), correlation_id: correlationId, duration_ms: this.now() - started, status };
    const level = mutating ? 'info' : 'debug';
    this.observe?.(topic, fields.duration_ms / 1000, status === 'error');
    if (status === 'error') {
      this.log[level]({ ...fields, replayed, error: echo(reply.error, 500) }, 'request answered with an error');
    } else {
      this.log[level]({ ...fields, replayed }, 'request answered');
    }

    if (!ack) {
      this.log.debug(
        { topic: truncate(topic), correlation_id: correlationId },
        'the cloud asked for no ack; reply dropped',
      );
      return;
    }
    try {
      ack(reply);
    } catch (err) {
      // Socket.IO marks an ack as sent before it encodes it, so a second call would be dropped: the reply was sealed
      // (checked to be encodable) beforehand, and this only happens when the connection itself is gone.
      this.log.warn({ topic: truncate(topic), correlation_id: correlationId, err }, 'could not send the ack');
    }
  }

  /** The sealed reply to one request: refused by shape or contract, replayed, or produced by its handler. */
  private async answer(topic: string, payloads: unknown[], correlationId: unknown, emit: Emit): Promise<Answer> {
    const payload = payloads.length === 1 ? payloads[0] : undefined;
    const definition = findTopic(topic);
    // A refused request counts as a change when its topic always changes something (create, delete...).
    const refuse = (error: string): Answer => ({
      reply: seal(topic, correlationId, errorReply(topic, correlationId, error)).reply,
      replayed: false,
      mutating: definition?.mutating === true,
    });
    if (!definition) return refuse(`Unknown topic ${echo(topic)}: this agent does not handle it`);
    if (!isJsonObject(payload)) return refuse(NOT_AN_OBJECT_ERROR);
    // Before anything walks the payload (validation, the idempotency key, the handler): depth and size bounded.
    const shape = measureJson(payload, { maxDepth: MAX_JSON_DEPTH, maxValues: MAX_REQUEST_VALUES });
    if (!shape.ok) return refuse(`Validation error: ${describeShapeProblem(shape.problem, 'the request')}`);
    const validation = validateRequest(definition.name, payload);
    if (!validation.ok) return refuse(validation.error);
    const request = validation.value;
    const mutating = isMutating(definition, request);
    const run = () => this.invoke(definition.name, request, correlationId, mutating, emit);
    if (mutating && correlationId !== null && this.idempotency) {
      return { ...(await this.idempotency.run(topic, correlationId, payload, run)), mutating };
    }
    const { reply } = await run();
    return { reply, replayed: false, mutating };
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
          ...seal(
            topic,
            correlationId,
            errorReply(topic, correlationId, `${topic} did not finish within ${seconds} s; ${tail}`),
          ),
          cacheable: false,
        });
      }, timeoutMs);

      const late = (what: string) => log.warn(`handler ${what} after its timeout; ignored`);

      let transient = false;
      const ctx: TopicContext = {
        emit,
        signal: controller.signal,
        log,
        transient: () => {
          transient = true;
        },
      };
      new Promise<Record<string, unknown>>((settle) => settle(handler(request, ctx))).then(
        (result) => {
          if (finished) return late('finished');
          finished = true;
          clearTimeout(timer);
          if (!isJsonObject(result)) {
            log.error('handler returned no reply object');
            resolve({
              ...seal(
                topic,
                correlationId,
                errorReply(topic, correlationId, `${topic} failed: the agent produced no reply; report this bug`),
              ),
              cacheable: false,
            });
            return;
          }
          const sealed = seal(topic, correlationId, successReply(topic, correlationId, result));
          if (sealed.replaced)
            log.error({ problem: sealed.replaced }, 'handler reply cannot be sent; answered with an error');
          // A replaced reply says nothing about the command's outcome: a repeat may run again.
          resolve({ ...sealed, cacheable: sealed.replaced === undefined && !transient });
        },
        (err: unknown) => {
          if (finished) return late('failed');
          finished = true;
          clearTimeout(timer);
          log.error({ err }, 'handler failed');
          const message = errorText(err);
          resolve({
            ...seal(topic, correlationId, errorReply(topic, correlationId, `${topic} failed: ${message}`)),
            cacheable: false,
          });
        },
      );
    });
  }
}

function errorReply(topic: string, correlationId: unknown, error: string): Reply {
  return { status: 'error', error, action: truncate(topic), correlation_id: correlationId };
}

/** How deep a reply may be: a runtime's JSON body (at most MAX_JSON_DEPTH) inside the run_command envelope. */
export const MAX_REPLY_DEPTH = MAX_JSON_DEPTH + 8;

/** A correlation id larger than this is not repeated in replies (null instead): no real id comes close. */
const MAX_ECHOED_ID = { maxDepth: 4, maxValues: 32, bytes: 512 };

/** The correlation id to put in replies: as sent when it is small JSON, else null. */
function echoableId(value: unknown): unknown {
  const shape = measureJson(value, { maxDepth: MAX_ECHOED_ID.maxDepth, maxValues: MAX_ECHOED_ID.maxValues });
  return shape.ok && shape.bytes <= MAX_ECHOED_ID.bytes ? value : null;
}

interface Sealed {
  reply: Reply;
  /** About how many bytes the reply's JSON takes (the idempotency cache counts them). */
  bytes: number;
  /** Why the reply could not be sent as it was, when it was replaced by an error reply. */
  replaced?: string;
}

/**
 * Checks that Socket.IO can encode a reply before it is handed over: its encoder walks the reply recursively and
 * JSON.stringify throws on BigInt and cycles, and a throw inside the ack loses the request's only answer. A reply
 * that fails the check is replaced by an error reply that names the request.
 */
function seal(topic: string, correlationId: unknown, reply: Reply): Sealed {
  const shape = measureJson(reply, { maxDepth: MAX_REPLY_DEPTH, maxValues: Number.POSITIVE_INFINITY });
  if (shape.ok) return { reply, bytes: shape.bytes };
  const problem = describeShapeProblem(shape.problem, 'its reply');
  const named = correlationId === null ? '' : ` (correlation_id ${echo(correlationId)})`;
  const error = `${echo(topic)} could not be answered${named}: ${problem}, which the agent cannot send`;
  const fallback = errorReply(topic, correlationId, error);
  return { reply: fallback, bytes: error.length + 128, replaced: problem };
}

function bugText(err: unknown): string {
  return `the agent could not handle this request (${truncate(errorText(err))}); report this bug`;
}

/** `action` and `correlation_id` first and authoritative, then what the handler returned. */
function successReply(topic: string, correlationId: unknown, result: Record<string, unknown>): Reply {
  const reply: Reply = { action: topic, correlation_id: correlationId };
  for (const [key, value] of Object.entries(result)) {
    if (key !== 'action' && key !== 'correlation_id') reply[key] = value;
  }
  return reply;
}

/**
 * Fragments shared by every topic contract (docs/protocol.md#base-fields) and the `defineTopic` helper.
 *
 * Schema rules that hold in every topic file:
 * - Properties are declared in the old agent's order: the validator reports the first failure in that order.
 * - Unknown fields are always allowed (never `additionalProperties: false`): the cloud sends extra keys.
 * - `Optional` in the old agent means "absent, or null, or the type": see `Opt`.
 * - Value checks (non-empty names, network modes, MAC formats) are not here: the handlers make them with the
 *   old agent's own messages.
 */
import Type, { type Static, type TSchema } from 'typebox';
import Format from 'typebox/format';
import { isPythonIsoDateTime } from './iso-datetime.js';

/** The JSON Schema `format` name of the old agent's `DateType`. */
export const ISO_DATETIME_FORMAT = 'python-iso-datetime';

// TypeBox looks formats up while compiling a schema and passes unknown ones, so the format is registered
// as soon as any schema that uses it can exist (i.e. when this module loads).
Format.Set(ISO_DATETIME_FORMAT, isPythonIsoDateTime);

/** A timestamp in any form Python 3.11 `datetime.fromisoformat` accepts once `Z` is read as `+00:00`. */
export const IsoDateTime = Type.String({
  format: ISO_DATETIME_FORMAT,
  description:
    'ISO 8601 date or date-time as Python 3.11 datetime.fromisoformat accepts it, with Z allowed for UTC ' +
    '(e.g. 2024-01-01, 2024-01-01T12:00:00, 2024-01-01T12:00:00.123456+02:00, 2024-01-01T12:00:00Z).',
});

/**
 * The pattern of the newest old agent's `NonEmptyStringType`: at least one character that is not white space. The
 * validator words a failure as `Value must be a non-empty string.` (validation.ts, PATTERN_TEXT).
 */
export const NON_BLANK_PATTERN = '\\S';

/** The newest old agent's `NonEmptyStringType`: a string with at least one non-white-space character. */
export function NonEmptyString(options: { description: string }) {
  return Type.String({ ...options, pattern: NON_BLANK_PATTERN });
}
/** The JSON Schema `format` name of the old agent's `InterfaceNameType`. */
export const INTERFACE_NAME_FORMAT = 'linux-interface-name';
Format.Set(INTERFACE_NAME_FORMAT, (value) => /^[a-zA-Z0-9_.-]{1,15}$/.test(value));

/** A Linux interface name as the old agent's newest releases check it: 1-15 characters of `[a-zA-Z0-9_.-]`. */
export const InterfaceName = Type.String({
  format: INTERFACE_NAME_FORMAT,
  description: 'A Linux interface name: 1-15 characters, each a letter, digit, dot, dash or underscore.',
});

/** The old agent's `OptionalType(T)`: key absent, JSON null, or a valid `T`. */
export function Opt<T extends TSchema>(schema: T) {
  return Type.Optional(Type.Union([schema, Type.Null()]));
}

/** Fields every message may carry (the old agent's BASE_MESSAGE). All optional, as in the old agent's code. */
export const BASE_MESSAGE_FIELDS = {
  correlation_id: Opt(Type.Number({ description: 'Chosen by the cloud; echoed in the reply.' })),
  action: Opt(Type.String({ description: 'Informational; never compared with the topic name.' })),
  requested_at: Opt(IsoDateTime),
};

/**
 * BASE_MESSAGE + `device_id` (the old agent's BASE_DEVICE). As in its newest releases, a blank `device_id` is refused
 * by validation (docs/decisions.md#the-contract-follows-the-newest-release-where-both-clouds-are-served).
 */
export const BASE_DEVICE_FIELDS = {
  ...BASE_MESSAGE_FIELDS,
  device_id: NonEmptyString({ description: 'The runtime container name.' }),
};

export const BASE_MESSAGE = Type.Object(BASE_MESSAGE_FIELDS);
export type BaseMessage = Static<typeof BASE_MESSAGE>;
export const BASE_DEVICE = Type.Object(BASE_DEVICE_FIELDS);
export type BaseDevice = Static<typeof BASE_DEVICE>;

/**
 * How the agent answers a topic.
 * - `ack`: the reply is the Socket.IO acknowledgement.
 * - `ack+event`: the ack says whether the command was accepted; the handler later emits an event with the
 *   topic's name, `{action, correlation_id, success, ...}`, because the cloud listens for it
 *   (docs/protocol.md#completion-events).
 */
export type ReplyKind = 'ack' | 'ack+event';

/** Carries a topic's reply type in its definition; it exists only for the compiler. */
declare const resultType: unique symbol;

export interface TopicDefinition<Name extends string = string, Request extends TSchema = TSchema, Result = unknown> {
  readonly name: Name;
  readonly request: Request;
  /** Whether a request changes something; mutating requests are de-duplicated by correlation id (idempotency.ts). */
  readonly mutating: boolean | ((request: Static<Request>) => boolean);
  readonly reply: ReplyKind;
  readonly [resultType]?: Result;
}

/** What a topic's handler returns (the ack without its envelope). */
export type ResultOf<T> = T extends TopicDefinition<string, TSchema, infer Result> ? Result : never;

/**
 * A topic's contract: `defineTopic<ItsResult>()({ name, request, mutating, reply })`. The result type rides in the
 * definition, so the router types each handler's reply from the topic file and the compiler rejects a reply with a
 * missing or misspelled key.
 */
export function defineTopic<Result extends object>() {
  return <const Name extends string, Request extends TSchema>(
    definition: TopicDefinition<Name, Request, Result>,
  ): TopicDefinition<Name, Request, Result> => Object.freeze({ ...definition });
}

/** Whether this request of this topic changes something. `request` must have passed the topic's schema. */
export function isMutating(
  topic: { readonly mutating: boolean | ((request: never) => boolean) },
  request: unknown,
): boolean {
  const { mutating } = topic;
  return typeof mutating === 'function' ? (mutating as (request: unknown) => boolean)(request) : mutating;
}

/** What the cloud sent as `correlation_id`, echoed as is (any JSON value), or null when absent. */
export type CorrelationId = unknown;

/** Keys the router puts first in every reply. */
export interface ReplyEnvelope<Name extends string> {
  action: Name;
  correlation_id: CorrelationId;
}

/** A refusal or failure, in the shape the cloud reads for every topic. */
export type ErrorResult = { status: 'error'; error: string };

/** A complete ack: the envelope plus what the handler returned. */
export type Reply<Name extends string, Result> = ReplyEnvelope<Name> & Result;

/** One usage sample of the per-device and orchestrator buffers. */
export type CpuSample = { timestamp: number; cpu: number };
export type MemorySample = { timestamp: number; memory: number };

/**
 * The ack of `start_device` / `stop_device` / `restart_device`: whether the command was taken on. The outcome
 * follows as an event of the same name, `DeviceCommandEvent`.
 */
export type DeviceCommandResult =
  | { status: 'accepted'; device_id: string; message: string }
  | (ErrorResult & { device_id?: string });

/**
 * The same-name event the cloud listens for once a start/stop/restart has finished
 * (docs/protocol.md#completion-events).
 */
export type DeviceCommandEvent<Name extends string> = {
  action: Name;
  correlation_id: CorrelationId;
  success: boolean;
  device_id: string;
  message?: string;
  error?: string;
};

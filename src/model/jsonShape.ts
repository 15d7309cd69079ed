/**
 * How deep and how large a JSON value is, measured without recursion.
 *
 * Everything the cloud sends and everything a runtime answers is parsed by V8's JSON parser, which builds any depth
 * without complaint. Every later step that walks the value recursively does not: Socket.IO's binary check and
 * JSON.stringify overflow the stack a few thousand levels down and throw, and a throw in the wrong place leaves a
 * request unanswered. So values are measured here, iteratively and with a bound on the work, before anything else
 * walks them.
 */

/**
 * Deepest nesting accepted in a cloud request and in a runtime's JSON answer. The deepest legitimate request, a vPLC's
 * DNS list inside a vNIC inside create_new_runtime, is 4 levels; runtime APIs answer a few levels deep. 64 leaves room
 * for any real document and stays far below the few thousand levels where recursive code fails.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Most values (strings, numbers, objects, array items...) accepted in one cloud request. It bounds the cost of
 * everything done per value, the idempotency key first: about 10 ms per 100,000 values here. A real request has a
 * few dozen; a program upload is one long string, which counts as one value.
 */
export const MAX_REQUEST_VALUES = 100_000;

export type ShapeProblem =
  | { kind: 'depth'; limit: number }
  | { kind: 'values'; limit: number }
  | { kind: 'binary' }
  | { kind: 'cycle' }
  | { kind: 'unserialisable'; type: string };

export interface ShapeLimits {
  maxDepth: number;
  /** Stop after this many values; Infinity to walk everything. */
  maxValues: number;
  /** Buffers and typed arrays: refused (a cloud request is JSON) unless allowed. */
  allowBinary?: boolean;
}

export type Shape = { ok: true; values: number; depth: number; bytes: number } | { ok: false; problem: ShapeProblem };

/** One open array or object: its members and how many were looked at. */
interface Frame {
  container: object;
  members: unknown[];
  next: number;
}

function isBinary(value: object): boolean {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

/**
 * Walks `value` as JSON.stringify would see it (own enumerable keys; `undefined`, functions and symbols dropped;
 * `toJSON` honoured) and reports its depth, its number of values and about how many bytes its JSON text takes, or
 * the first problem: too deep, too many values, binary data, a cycle, or a value JSON cannot encode (BigInt). The work
 * is bounded by `maxValues`, and no recursion is used, so any input is safe.
 */
export function measureJson(value: unknown, limits: ShapeLimits): Shape {
  const stack: Frame[] = [];
  const onPath = new Set<object>();
  let values = 0;
  let deepest = 0;
  let bytes = 0;
  const fail = (problem: ShapeProblem): Shape => ({ ok: false, problem });
  const tooMany = (): Shape => fail({ kind: 'values', limit: limits.maxValues });

  /** Counts a value; a container is opened (pushed) for its members to be visited. */
  const visit = (start: unknown): Shape | null => {
    let item = start;
    for (let hops = 0; ; hops++) {
      if (++values > limits.maxValues) return tooMany();
      switch (typeof item) {
        case 'string':
          bytes += item.length + 2;
          return null;
        case 'number':
        case 'boolean':
          bytes += 8;
          return null;
        case 'undefined':
        case 'function':
        case 'symbol':
          return null;
        case 'bigint':
          return fail({ kind: 'unserialisable', type: 'bigint' });
      }
      if (item === null) {
        bytes += 4;
        return null;
      }
      const object = item as object;
      const depth = stack.length + 1;
      if (depth > limits.maxDepth) return fail({ kind: 'depth', limit: limits.maxDepth });
      if (isBinary(object)) {
        if (!limits.allowBinary) return fail({ kind: 'binary' });
        bytes += (object as ArrayBufferView).byteLength ?? 0;
        return null;
      }
      if (object instanceof Date) {
        bytes += 26;
        return null;
      }
      const toJSON = (object as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function' && hops < 8) {
        try {
          item = toJSON.call(object);
        } catch {
          return fail({ kind: 'unserialisable', type: 'toJSON' });
        }
        values--;
        continue;
      }
      if (onPath.has(object)) return fail({ kind: 'cycle' });
      let members: unknown[];
      if (Array.isArray(object)) {
        members = object;
        bytes += 2 + object.length;
      } else {
        const record = object as Record<string, unknown>;
        const keys = Object.keys(record);
        // A container with more members than the budget has left fails before its members are looked at.
        if (values + keys.length > limits.maxValues) return tooMany();
        members = keys.map((key) => {
          bytes += key.length + 4;
          return record[key];
        });
        bytes += 2;
      }
      if (values + members.length > limits.maxValues) return tooMany();
      if (depth > deepest) deepest = depth;
      onPath.add(object);
      stack.push({ container: object, members, next: 0 });
      return null;
    }
  };

  const first = visit(value);
  if (first) return first;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.next === frame.members.length) {
      stack.pop();
      onPath.delete(frame.container);
      continue;
    }
    const problem = visit(frame.members[frame.next++]);
    if (problem) return problem;
  }
  return { ok: true, values, depth: deepest, bytes };
}

/** A sentence for a shape problem, about "the request" or "the reply" (`what`). */
export function describeShapeProblem(problem: ShapeProblem, what: string): string {
  switch (problem.kind) {
    case 'depth':
      return `${what} is nested more than ${problem.limit} levels deep`;
    case 'values':
      return `${what} holds more than ${problem.limit.toLocaleString('en-US')} values`;
    case 'binary':
      return `${what} carries binary data; send JSON only (files as content_base64)`;
    case 'cycle':
      return `${what} refers to itself`;
    case 'unserialisable':
      return `${what} holds a value JSON cannot encode (${problem.type})`;
  }
}

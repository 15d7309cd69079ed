/** A minimal agent-side client for the sidecar tests: JSON lines in, messages collected, waits with timeouts. */
import { createConnection, type Socket } from 'node:net';

export type Message = Record<string, unknown>;

export class TestClient {
  readonly messages: Message[] = [];
  private readonly consumed = new Set<Message>();
  private buffer = '';
  private waiters: Array<() => void> = [];
  private nextId = 1;
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let newline = this.buffer.indexOf('\n');
      while (newline !== -1) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        this.messages.push(JSON.parse(line) as Message);
        newline = this.buffer.indexOf('\n');
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(socketPath: string): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(socketPath);
      socket.once('connect', () => resolve(new TestClient(socket)));
      socket.once('error', reject);
    });
  }

  sendRaw(data: string | Buffer): void {
    this.socket.write(data);
  }

  send(message: Message): void {
    this.socket.write(`${JSON.stringify(message)}\n`);
  }

  /** Sends a command with a fresh id and resolves with the reply that echoes it. */
  async request(message: Message, timeoutMs = 20_000): Promise<Message> {
    const id = `req-${this.nextId++}`;
    this.send({ ...message, id });
    return this.waitFor((m) => m.id === id && !('type' in m), timeoutMs, `reply to ${String(message.command)}`);
  }

  /** The first not-yet-taken message matching `predicate`, waiting for it if needed. */
  async waitFor(predicate: (m: Message) => boolean, timeoutMs = 20_000, what = 'message'): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => !this.consumed.has(m) && predicate(m));
      if (found) {
        this.consumed.add(found);
        return found;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  event(type: string, predicate: (data: Message) => boolean = () => true, timeoutMs = 20_000): Promise<Message> {
    return this.waitFor((m) => m.type === type && predicate((m.data ?? {}) as Message), timeoutMs, `${type} event`);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Waits until `check` returns a truthy value (polled), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

import { io, type Socket } from 'socket.io-client';

/**
 * ctl's connection to the local endpoint: a Socket.IO client with ctl's certificate, the same transport the agent
 * uses towards the cloud (WebSocket only, mutual TLS, the local CA as the only trust anchor).
 */

export interface CtlIdentity {
  url: string;
  cert: string;
  key: string;
  ca: string;
}

export type EventListener = (event: string, payload: unknown) => void;

export interface CtlConnection {
  /** Emits `topic` with `payload` and resolves with the first ack argument. */
  request(topic: string, payload: unknown, timeoutMs: number): Promise<unknown>;
  /** Every event the endpoint passes on (the agent's heartbeats and completion events). Returns an unsubscribe. */
  onEvent(listener: EventListener): () => void;
  close(): void;
}

export class CtlConnectError extends Error {
  override readonly name = 'CtlConnectError';
}

export function connectCtl(identity: CtlIdentity, timeoutMs = 5_000): Promise<CtlConnection> {
  const socket: Socket = io(identity.url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: timeoutMs,
    key: identity.key,
    cert: identity.cert,
    ca: identity.ca,
    rejectUnauthorized: true,
  } as Parameters<typeof io>[1]);
  return new Promise<CtlConnection>((resolve, reject) => {
    const timer = setTimeout(() => fail(`no answer from ${identity.url} within ${timeoutMs} ms`), timeoutMs);
    const fail = (why: string) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.disconnect();
      reject(new CtlConnectError(why));
    };
    socket.once('connect_error', (err: Error & { description?: { message?: string } }) => {
      const inner = err.description?.message;
      fail(`cannot connect to ${identity.url}: ${inner ? `${err.message} (${inner})` : err.message}`);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('connect_error');
      const listeners = new Set<EventListener>();
      socket.onAny((event: string, payload: unknown) => {
        for (const listener of listeners) listener(event, payload);
      });
      resolve({
        request(topic, payload, ms) {
          return new Promise((done, failed) => {
            const onDisconnect = (reason: string) =>
              failed(new Error(`the local endpoint closed the connection (${reason}) before answering ${topic}`));
            socket.once('disconnect', onDisconnect);
            socket.timeout(ms).emit(topic, payload, (err: Error | null, reply: unknown) => {
              socket.off('disconnect', onDisconnect);
              if (err) failed(new Error(`no reply to ${topic} within ${ms / 1000} s`));
              else done(reply);
            });
          });
        },
        onEvent(listener) {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
        close() {
          socket.offAny();
          socket.disconnect();
        },
      });
    });
  });
}

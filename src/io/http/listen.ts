import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { httpUrlOf, type ListenAddress } from '../../model/listen.js';

/** A plain HTTP server of the agent's own (inspector, metrics) that listens, says where, and closes for good. */
export interface Listening {
  /** `http://host:port` with the port it got. */
  url: string;
  address: ListenAddress;
  close(): Promise<void>;
}

/**
 * Listens on `at` and resolves once it does; a port in use or an address this host does not have rejects with a
 * sentence naming the flag. `close` also ends open connections (server-sent event streams stay open forever).
 */
export async function listenHttp(
  at: ListenAddress,
  flag: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  onClose?: () => void,
): Promise<Listening> {
  const server: Server = createServer(handler);
  // Bounded: a client that sends nothing is dropped, and headers are small.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.maxHeadersCount = 64;
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? `port ${at.port} on ${at.host} is in use; give another port`
          : err.code === 'EADDRNOTAVAIL'
            ? `${at.host} is not an address of this host`
            : err.message;
      reject(new Error(`${flag}: cannot listen on ${at.host}:${at.port}: ${why}`));
    };
    server.once('error', failed);
    server.listen({ host: at.host, port: at.port }, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const address = { host: at.host, port: bound.port };
  let closing: Promise<void> | null = null;
  return {
    url: httpUrlOf(address),
    address,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        onClose?.();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

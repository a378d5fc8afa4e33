import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { Config } from '../config/config.js';
import type { ListenHandle, ListenSocketSource } from './listen-socket-handover.js';

export interface ApiListener {
  /** Stop accepting; resolves once every connection this worker accepted has closed (net.Server#close). */
  close(): Promise<void>;
  /** Accepts on a socket of `slot` too, while that slot has no worker (listen-socket-handover.ts). */
  adopt(slot: number, handle: ListenHandle): void;
  /** Stops accepting on `slot`'s sockets: its worker is back. */
  release(slot: number): void;
}

/*
 * libuv accepts one connection per event-loop iteration on a listening socket (it stopped looping on accept(2) in
 * 1.45, the libuv of Node 20). A worker busy with 500 keep-alive connections spends tens of milliseconds per iteration,
 * so 500 more connections arriving together wait seconds in the kernel's accept queue, already established, their
 * first request unread (measured with tcpdump and strace: docs/storm-investigation.md). node:cluster's round-robin hand-off
 * has the same pace: one connection in flight per worker, each acknowledged by the worker's next iteration.
 *
 * With `reuseport` a worker therefore listens on `listenersPerWorker` sockets of its own: one accept per socket per
 * iteration, and the kernel spreads new connections over every socket of every worker. All of them feed the one HTTP
 * server, which tracks the connections (keep-alive, idle sweeps, closeAllConnections) as if it had accepted them.
 */
export async function listenApi(
  server: Server,
  http: Config['http'],
  /** In a cluster worker: the slot's sockets, kept by the primary across workers (listen-socket-handover.ts). */
  source?: ListenSocketSource,
): Promise<ApiListener> {
  if (http.accept !== 'reuseport') {
    // node:cluster shares the primary's socket: accepted by the primary (`primary`) or by every worker (`shared`).
    await listen(server, { port: http.port, host: http.host, backlog: http.listenBacklog });
    return {
      close: () => new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve())),
      adopt: (_slot, handle) => handle.close(),
      release: () => {},
    };
  }
  const sockets = Array.from(
    { length: http.listenersPerWorker },
    () => new NetServer((socket) => server.emit('connection', socket)),
  );
  const inherited = (await source?.inherit(sockets.length)) ?? [];
  try {
    for (const [i, socket] of sockets.entries()) {
      const handle = inherited[i];
      // exclusive: a socket of this worker's own, not the primary's; each with the full backlog.
      if (handle) await listen(socket, { handle, backlog: http.listenBacklog });
      else
        await listen(socket, {
          port: http.port,
          host: http.host,
          backlog: http.listenBacklog,
          exclusive: true,
          reusePort: true,
        });
    }
  } catch (error) {
    for (const socket of sockets) if (socket.listening) socket.close();
    throw error;
  }
  if (inherited.length === 0) source?.keep(sockets);
  // node:http starts tracking connections (headersTimeout, requestTimeout, closeIdleConnections) on 'listening'.
  server.emit('listening');
  const adopted = new Map<number, NetServer[]>();
  const closeAll = (list: readonly NetServer[]) =>
    Promise.all(list.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
  let closing = false;
  return {
    close() {
      closing = true;
      const all = [...sockets, ...[...adopted.values()].flat()];
      adopted.clear();
      return closeAll(all).then(() => {});
    },
    adopt(slot, handle) {
      if (closing) return handle.close();
      const socket = new NetServer((connection) => server.emit('connection', connection));
      adopted.set(slot, [...(adopted.get(slot) ?? []), socket]);
      listen(socket, { handle, backlog: http.listenBacklog }).catch(() => socket.close());
    },
    release(slot) {
      const list = adopted.get(slot) ?? [];
      adopted.delete(slot);
      void closeAll(list);
    },
  };
}

function listen(
  server: NetServer,
  options:
    | { port: number; host: string; backlog: number; exclusive?: boolean; reusePort?: boolean }
    | { handle: ListenHandle; backlog: number },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = () => {
      server.off('error', reject);
      resolve();
    };
    // Listening on a socket that already listens calls listen(2) again, which sets its backlog again: Node reads it
    // only from the second argument for a handle (not from an options object), and uses 511 without it.
    if ('handle' in options) server.listen(options.handle as never, options.backlog, listening);
    else server.listen(options, listening);
  });
}

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/*
 * Keep-alive connections stay on the worker that accepted them; the kernel (reuseport's hash over every worker's
 * sockets, or node:cluster's round-robin) deals only new ones. After a crash the dead worker's clients reconnect at
 * once, while its slot has no worker: onto the other workers' sockets, and onto the dead worker's own, lent to another
 * worker meanwhile (listen-socket-handover.ts). The restart then gets only connections opened later: behind a load
 * balancer or a client pool next to none, for as long as those connections live (0 % of 200 keep-alive clients'
 * requests in the 10 s after it was ready, test/chaos/replacement-share.test.ts). Moving back only the connections
 * accepted on the lent sockets is not enough: the clients that landed on the survivor's own sockets stay (14 %).
 *
 * So once the restart is ready, each other worker asks every connection it holds to reconnect, and the kernel deals
 * the new connections over every worker again: each ends with about its share. A connection is asked by its next
 * response, `Connection: close` (or by the response it is waiting for, if that is not written yet): no request is cut,
 * and the client knows not to send another on it. An idle connection is asked when it next brings a request; closing
 * it at once would race a client sending on it right then (the same reason the drain spares idle connections).
 */
export interface ConnectionRebalance {
  /** Asks every connection open now to reconnect after its next response; returns how many were asked. */
  rebalance(): number;
}

/** Tracks `server`'s connections, so they can be asked to reconnect. */
export function createConnectionRebalance(server: Server): ConnectionRebalance {
  const open = new Set<Socket>();
  const leaving = new WeakSet<Socket>();
  // The response each connection is answering, so one asked in the middle of a request is told by that response.
  const answering = new WeakMap<Socket, ServerResponse>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  // Ahead of the app's own listener, before anything is written.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    if (leaving.has(req.socket)) res.shouldKeepAlive = false;
    else answering.set(req.socket, res);
  });
  return {
    rebalance() {
      const asked = open.size;
      for (const socket of open) {
        leaving.add(socket);
        const res = answering.get(socket);
        if (res && !res.headersSent) res.shouldKeepAlive = false;
      }
      // Asked once: what reconnects is a new connection, dealt by the kernel, and stays where it lands.
      open.clear();
      return asked;
    },
  };
}

import { connect, createServer, type Server, type Socket } from 'node:net';

/*
 * A TCP proxy that can lose the path silently, as a failover, a dropped NAT/conntrack entry or a half-dead proxy
 * does: `freeze()` stops forwarding on every connection open at that moment, in both directions, without closing
 * either side (no RST, no FIN: the sockets stay open, bytes just stop arriving), while new connections are still
 * accepted and forwarded.
 */

export interface FreezableProxy {
  readonly port: number;
  /** Connections open right now (both legs up). */
  openConnections(): number;
  /** Stops forwarding on the connections open now; returns how many were frozen. */
  freeze(): number;
  /**
   * The whole path is lost: freezes the open connections, and new ones are accepted but never forwarded (a connect
   * hangs until the client gives up), until `restore()`.
   */
  cutOff(): number;
  /** New connections are forwarded again; the frozen ones stay frozen, as after a real outage. */
  restore(): void;
  /** Closes the listener and destroys every connection, frozen or not. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly server: Socket;
}

export async function startFreezableProxy(target: { host: string; port: number }): Promise<FreezableProxy> {
  const pairs = new Set<Pair>();
  const frozen = new Set<Pair>();
  const unanswered = new Set<Socket>();
  let cut = false;
  const listener: Server = createServer((client) => {
    if (cut) {
      client.pause();
      unanswered.add(client);
      client.on('error', () => {}).on('close', () => unanswered.delete(client));
      return;
    }
    const server = connect(target);
    const pair = { client, server };
    pairs.add(pair);
    client.pipe(server);
    server.pipe(client);
    const drop = () => {
      pairs.delete(pair);
      // A frozen pair stays as it is: the lost path delivers no close either.
      if (frozen.has(pair)) return;
      client.destroy();
      server.destroy();
    };
    client.on('error', drop).on('close', drop);
    server.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  function freeze(): number {
    let count = 0;
    for (const pair of pairs) {
      if (frozen.has(pair)) continue;
      frozen.add(pair);
      count++;
      // Stop reading both legs: what either end sends waits in kernel buffers, and nothing reaches the other end.
      pair.client.unpipe(pair.server);
      pair.server.unpipe(pair.client);
      pair.client.pause();
      pair.server.pause();
    }
    return count;
  }

  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('proxy: no port');
  return {
    port: address.port,
    openConnections: () => pairs.size,
    freeze,
    cutOff() {
      cut = true;
      return freeze();
    },
    restore() {
      cut = false;
    },
    async close() {
      for (const client of unanswered) client.destroy();
      for (const { client, server } of [...pairs, ...frozen]) {
        client.destroy();
        server.destroy();
      }
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

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
   * Freezes the next connection that sends `statement` (a substring of the SQL), right after it has been forwarded:
   * the server runs it (and holds what it takes), and its answer, like everything after it, never arrives. Resolves
   * once that has happened.
   */
  freezeAfter(statement: string): Promise<void>;
  /**
   * The whole path is lost: freezes the open connections, and new ones are accepted but never forwarded (a connect
   * hangs until the client gives up), until `restore()`.
   */
  cutOff(): number;
  /** New connections are forwarded again; the frozen ones stay frozen, as after a real outage. */
  restore(): void;
  /**
   * The frozen connections break for good: both legs are destroyed, so each end sees its socket closed (what a client
   * sees when the lost path comes back and the peer's reset arrives). Returns how many there were.
   */
  sever(): number;
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
  const triggers: { statement: string; fired: () => void }[] = [];
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
    // Forwarded by hand rather than piped, so a statement can be seen on its way and the pair frozen right after it.
    client.on('data', (chunk: Buffer) => {
      if (frozen.has(pair)) return;
      server.write(chunk);
      const text = chunk.toString('latin1');
      const index = triggers.findIndex((trigger) => text.includes(trigger.statement));
      if (index < 0) return;
      const [trigger] = triggers.splice(index, 1);
      freezePair(pair);
      trigger?.fired();
    });
    server.on('data', (chunk: Buffer) => {
      if (!frozen.has(pair)) client.write(chunk);
    });
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
  function freezePair(pair: Pair): void {
    frozen.add(pair);
    // Stop reading both legs: what either end sends waits in kernel buffers, and nothing reaches the other end.
    pair.client.pause();
    pair.server.pause();
  }
  function freeze(): number {
    let count = 0;
    for (const pair of pairs) {
      if (frozen.has(pair)) continue;
      freezePair(pair);
      count++;
    }
    return count;
  }

  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('proxy: no port');
  return {
    port: address.port,
    openConnections: () => pairs.size,
    freeze,
    freezeAfter(statement) {
      return new Promise((fired) => triggers.push({ statement, fired }));
    },
    cutOff() {
      cut = true;
      return freeze();
    },
    restore() {
      cut = false;
    },
    sever() {
      const count = frozen.size;
      for (const pair of frozen) {
        pair.client.destroy();
        pair.server.destroy();
      }
      frozen.clear();
      return count;
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

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeepAliveConnection } from '../../harness/keep-alive-connection.js';
import { createConnectionRebalance, type ConnectionRebalance } from '../../server/listening/connection-rebalance.js';

/*
 * Asking connections to reconnect is gentle: a request in flight is answered in full and its response says
 * `Connection: close`; an idle connection is not touched until its next request, whose response says so; connections
 * opened afterwards are kept alive. A real HTTP server on a real port, real keep-alive clients.
 */

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly connection: string | undefined;
  /** The local port of the client's connection: the same port means the same connection. */
  readonly clientPort: number;
}

async function get(port: number, path: string, connection: KeepAliveConnection): Promise<Answer> {
  const response = await connection.dispatcher.request({ origin: `http://127.0.0.1:${port}`, path, method: 'GET' });
  // Read as the answer arrives: the next request may open another connection.
  const clientPort = connection.localPort ?? -1;
  const connectionHeader = response.headers['connection'];
  return {
    status: response.statusCode,
    body: await response.body.text(),
    connection: Array.isArray(connectionHeader) ? connectionHeader[0] : connectionHeader,
    clientPort,
  };
}

describe('asking connections to reconnect (a crash restart is ready)', () => {
  let server: Server;
  let rebalance: ConnectionRebalance;
  let port: number;
  const connections: KeepAliveConnection[] = [];
  let releaseSlow: () => void = () => {};
  let slowArrived: Promise<void>;

  const connection = () => {
    const created = new KeepAliveConnection(`http://127.0.0.1:${port}`);
    connections.push(created);
    return created;
  };

  beforeEach(async () => {
    let arrived: () => void = () => {};
    slowArrived = new Promise((resolve) => (arrived = resolve));
    server = createServer((req, res) => {
      if (req.url !== '/slow') return res.end('quick');
      arrived();
      releaseSlow = () => res.end('slow');
    });
    rebalance = createConnectionRebalance(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    await Promise.all(connections.splice(0).map((created) => created.close()));
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('answers the request in flight in full, with Connection: close, and the client reconnects', async () => {
    const client = connection();
    const first = await get(port, '/', client);
    assert.equal(first.connection, 'keep-alive');
    const slow = get(port, '/slow', client);
    await slowArrived;
    assert.equal(rebalance.rebalance(), 1);
    releaseSlow();
    const answered = await slow;
    assert.deepEqual([answered.status, answered.body, answered.connection], [200, 'slow', 'close']);
    assert.equal(answered.clientPort, first.clientPort, 'the same connection, not cut before its answer');
    const next = await get(port, '/', client);
    assert.equal(next.status, 200);
    assert.notEqual(next.clientPort, first.clientPort, 'the client opened a new connection');
    assert.equal(next.connection, 'keep-alive', 'the new connection stays');
  });

  it('leaves an idle connection alone until its next request, whose answer says Connection: close', async () => {
    const client = connection();
    const first = await get(port, '/', client);
    assert.equal(rebalance.rebalance(), 1);
    // Still open: closing an idle connection races a client sending on it.
    assert.equal(await connectionCount(server), 1);
    const second = await get(port, '/', client);
    assert.deepEqual([second.status, second.clientPort, second.connection], [200, first.clientPort, 'close']);
    const third = await get(port, '/', client);
    assert.notEqual(third.clientPort, first.clientPort);
    assert.equal(third.connection, 'keep-alive');
  });

  it('asks each connection once: only those open at the time, not the ones that reconnected', async () => {
    const [a, b] = [connection(), connection()];
    await Promise.all([get(port, '/', a), get(port, '/', b)]);
    assert.equal(rebalance.rebalance(), 2);
    await Promise.all([get(port, '/', a), get(port, '/', b)]); // answered with Connection: close
    const reconnected = await Promise.all([get(port, '/', a), get(port, '/', b)]);
    assert.deepEqual(
      reconnected.map((r) => r.connection),
      ['keep-alive', 'keep-alive'],
    );
    assert.equal(rebalance.rebalance(), 2, 'the two new connections, not the two closed ones');
  });
});

function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

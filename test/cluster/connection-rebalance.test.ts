import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

function get(port: number, path: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res: IncomingMessage) => {
      // Read now: the agent takes the socket back once the response has ended.
      const clientPort = res.socket.localPort ?? -1;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body,
          connection: res.headers.connection,
          clientPort,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('asking connections to reconnect (a crash restart is ready)', () => {
  let server: Server;
  let rebalance: ConnectionRebalance;
  let port: number;
  const agents: Agent[] = [];
  let releaseSlow: () => void = () => {};
  let slowArrived: Promise<void>;

  const agent = () => {
    const created = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(created);
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
    for (const created of agents.splice(0)) created.destroy();
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('answers the request in flight in full, with Connection: close, and the client reconnects', async () => {
    const client = agent();
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
    const client = agent();
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
    const [a, b] = [agent(), agent()];
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

import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../../harness/free-port.js';
import { KeepAliveConnection } from '../../harness/keep-alive-connection.js';
import { closedLoop, send } from '../../harness/traffic.js';

/*
 * What the fault tests read in a sample, against a real HTTP server on a real port: whether a request went out on a
 * connection an earlier one used, how a connection the server ended under a request is named (ECONNRESET), a request
 * the server never answers (TIMEOUT, at the client's own deadline, and the connection works again after), a port
 * nobody listens on (ECONNREFUSED), when the bytes were sent, and the answer's status, body and Retry-After.
 */

describe('harness: the traffic driver', () => {
  let server: Server;
  let url: string;
  let held: (() => void)[] = [];

  beforeEach(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? '/';
      if (path === '/close') return res.writeHead(200, { Connection: 'close' }).end('bye');
      if (path === '/reset') return req.socket.resetAndDestroy();
      if (path === '/end') return req.socket.destroy();
      if (path === '/hang') return held.push(() => res.end());
      if (path === '/busy') return res.writeHead(503, { 'Retry-After': '2' }).end('{"error":"busy"}');
      if (path === '/echo') {
        let body = '';
        req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        return req.on('end', () => res.end(`${req.method} ${req.headers['content-type']} ${body}`));
      }
      res.end(String(req.socket.remotePort));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    for (const release of held.splice(0)) release();
    held = [];
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('keeps one connection per client and says when a request reused it; a Connection: close answer ends it', async () => {
    const connection = new KeepAliveConnection(url);
    try {
      const first = await send(url, { path: '/' }, { connection });
      const second = await send(url, { path: '/' }, { connection });
      const closing = await send(url, { path: '/close' }, { connection });
      const reopened = await send(url, { path: '/' }, { connection });
      assert.deepEqual(
        [first, second, closing, reopened].map((s) => [s.status, s.reusedSocket]),
        [
          [200, false],
          [200, true],
          [200, true],
          [200, false],
        ],
      );
      assert.equal(second.body, first.body, 'the same client port: the same connection');
      assert.notEqual(reopened.body, first.body, 'a new connection after Connection: close');
      assert.equal(connection.localPort, Number(reopened.body));
    } finally {
      await connection.close();
    }
  });

  it('sends each request without a connection on one of its own, which it asks the server to close', async () => {
    const [a, b] = [await send(url, { path: '/' }), await send(url, { path: '/' })];
    assert.deepEqual([a.reusedSocket, b.reusedSocket], [false, false]);
    assert.notEqual(a.body, b.body);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const open = await new Promise<number>((resolve) => server.getConnections((_, count) => resolve(count)));
    assert.equal(open, 0, 'no connection left open');
  });

  it('names a connection the server ended under a request ECONNRESET, by a reset or by a FIN', async () => {
    const connection = new KeepAliveConnection(url);
    try {
      for (const path of ['/reset', '/end']) {
        const fresh = await send(url, { path });
        assert.deepEqual([fresh.status, fresh.error], [undefined, 'ECONNRESET'], path);
        await send(url, { path: '/' }, { connection });
        const reused = await send(url, { path }, { connection });
        assert.deepEqual([reused.error, reused.reusedSocket], ['ECONNRESET', true], path);
      }
      assert.equal((await send(url, { path: '/' }, { connection })).status, 200, 'the connection opens again');
    } finally {
      await connection.close();
    }
  });

  it('ends a request the server never answers at the client’s deadline (TIMEOUT); the connection serves the next', async () => {
    const connection = new KeepAliveConnection(url);
    try {
      const startedAt = performance.now();
      const hung = await send(url, { path: '/hang' }, { connection, timeoutMs: 300 });
      const tookMs = performance.now() - startedAt;
      assert.deepEqual([hung.status, hung.error, hung.body], [undefined, 'TIMEOUT', '']);
      assert.ok(tookMs >= 290, `ended at its deadline, not before (${tookMs} ms)`);
      const next = await send(url, { path: '/' }, { connection, timeoutMs: 5000 });
      assert.deepEqual([next.status, next.reusedSocket], [200, false], 'answered on a new connection');
    } finally {
      await connection.close();
    }
  });

  it('names a port nobody listens on ECONNREFUSED', async () => {
    const sample = await send(`http://127.0.0.1:${await freePort()}`, { path: '/' }, { timeoutMs: 2000 });
    assert.deepEqual([sample.status, sample.error, sample.sentAt], [undefined, 'ECONNREFUSED', undefined]);
  });

  it('tells when the bytes were sent, before the answer; carries the JSON body, status, body and Retry-After', async () => {
    let toldAt: number | undefined;
    const echoed = await send(
      url,
      { method: 'POST', path: '/echo', json: { a: 1 } },
      { onSent: (sentAt) => (toldAt = sentAt) },
    );
    assert.deepEqual([echoed.status, echoed.body], [200, 'POST application/json {"a":1}']);
    assert.ok(echoed.sentAt !== undefined && toldAt === echoed.sentAt, 'told with the sample’s sentAt');
    assert.ok(echoed.startedAt <= echoed.sentAt && echoed.sentAt <= echoed.endedAt);
    const busy = await send(url, { path: '/busy' });
    assert.deepEqual([busy.status, busy.retryAfter, busy.body], [503, '2', '{"error":"busy"}']);
  });

  it('runs bounded closed loops: each client on its own connection, every request after its first reusing it', async () => {
    const samples = await closedLoop({
      baseUrl: url,
      clients: 3,
      durationMs: 10_000,
      maxRequestsPerClient: 5,
      next: () => ({ path: '/' }),
    });
    assert.equal(samples.length, 15);
    for (const client of [0, 1, 2]) {
      const own = samples.filter((s) => s.client === client);
      assert.deepEqual(
        own.map((s) => s.reusedSocket),
        [false, true, true, true, true],
      );
      assert.equal(new Set(own.map((s) => s.body)).size, 1, 'one connection per client');
    }
    assert.equal(new Set(samples.map((s) => s.body)).size, 3);
  });
});

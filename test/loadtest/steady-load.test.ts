import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runSteadyLoad, runSteadyLoadInChild, successRate } from '../../loadtest/bench/steady-load.js';
import { freePort } from '../../harness/free-port.js';

/*
 * The benches' steady load counts what it sent against a real HTTP server: every request answered, failed or still in
 * flight at the end; 2xx apart from the rest; no more than the fixed rate allows; what it sends is what was asked.
 */

describe('the benches’ steady load', function () {
  this.timeout(30_000);
  let server: Server;
  let url: string;
  const seen = { requests: 0, lastBody: '', lastHeader: '', lastMethod: '', cutOff: 0, finished: 0 };

  before(async () => {
    server = createServer((req, res) => {
      seen.requests++;
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        [seen.lastBody, seen.lastHeader, seen.lastMethod] = [body, String(req.headers['x-test']), req.method ?? ''];
        if (req.url === '/hang') return; // never answered
        if (req.url === '/slow') {
          // Answered a second late, long after the run's time is up: a client that closes the connection first cuts
          // the request off.
          res.on('close', () => (res.writableFinished ? seen.finished++ : seen.cutOff++));
          setTimeout(() => res.writeHead(200).end('ok'), 1000);
          return;
        }
        res.writeHead(req.url === '/busy' && seen.requests % 2 === 0 ? 503 : 200).end('ok');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('with `drain`, lets the requests in flight at the end finish instead of cutting them off', async () => {
    const run = async (drain: boolean) => {
      [seen.cutOff, seen.finished] = [0, 0];
      const load = await runSteadyLoad({ url: `${url}/slow`, connections: 3, durationSeconds: 0.5, drain });
      // The server sees a connection close a moment after the client closes it.
      for (let i = 0; i < 100 && seen.cutOff + seen.finished < load.sent; i++) await sleep(10);
      return load;
    };
    const cut = await run(false);
    assert.equal(cut.inFlightAtEnd, 3);
    assert.equal(seen.cutOff, 3, 'without drain, the requests in flight are cut off');
    const drained = await run(true);
    assert.equal(drained.inFlightAtEnd, 3, 'still in flight when the time was up, so not counted as answered');
    assert.equal(drained.answered, drained.sent - 3);
    assert.equal(seen.cutOff, 0);
    assert.equal(seen.finished, drained.sent, 'every request sent was answered in full');
  });

  it('counts every request sent as answered (2xx or not) or in flight at the end, and sends what was asked', async () => {
    seen.requests = 0;
    const load = await runSteadyLoad({
      url: `${url}/busy`,
      connections: 4,
      durationSeconds: 1,
      method: 'POST',
      headers: { 'x-test': 'yes' },
      body: '{"a":1}',
    });
    assert.ok(load.answered > 0);
    assert.equal(load.sent, load.answered + load.errors + load.inFlightAtEnd);
    assert.equal(load.errors, 0);
    assert.ok(load.inFlightAtEnd <= 4, 'at most one per connection');
    assert.ok(load.non2xx > 0 && load.ok > 0, 'every other request is a 503');
    assert.equal(load.ok + load.non2xx, load.answered);
    assert.equal(load.failed, load.non2xx);
    assert.ok(seen.requests >= load.answered, 'the server saw every answered request');
    assert.deepEqual([seen.lastMethod, seen.lastHeader, seen.lastBody], ['POST', 'yes', '{"a":1}']);
    assert.ok(load.p50Ms > 0 && load.p99Ms >= load.p50Ms);
    assert.equal(successRate(load), load.ok / (load.sent - load.inFlightAtEnd));
  });

  it('sends no faster than the fixed rate over all connections', async () => {
    seen.requests = 0;
    const load = await runSteadyLoad({ url, connections: 10, durationSeconds: 1, overallRate: 50 });
    assert.ok(load.sent <= 50, `${load.sent} sent in 1 s at 50/s`);
    assert.ok(load.ok > 0);
    assert.equal(load.ok, load.answered);
  });

  it('counts a request never answered as in flight at the end, and a refused connection as an error', async () => {
    const hung = await runSteadyLoad({ url: `${url}/hang`, connections: 3, durationSeconds: 0.5 });
    assert.deepEqual([hung.sent, hung.answered, hung.inFlightAtEnd, hung.failed], [3, 0, 3, 0]);
    const refused = await runSteadyLoad({
      url: `http://127.0.0.1:${await freePort()}/`,
      connections: 1,
      durationSeconds: 0.3,
      overallRate: 10,
    });
    assert.ok(refused.errors > 0 && refused.answered === 0 && successRate(refused) === 0);
  });

  it('runs the same load from a child process and returns its counts', async () => {
    const load = await runSteadyLoadInChild({ url, connections: 2, durationSeconds: 0.5, overallRate: 20 });
    assert.ok(load.ok > 0 && load.sent <= 10);
    assert.equal(load.sent, load.answered + load.errors + load.inFlightAtEnd);
  });
});

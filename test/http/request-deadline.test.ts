import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../harness/wait-until.js';
import Koa from 'koa';
import { errorBoundary } from '../../server/http/error-boundary.js';
import { requestDeadline } from '../../server/http/request-deadline.js';
import { RequestState, type AppState } from '../../server/http/app-state.js';
import { silentLogger } from '../../harness/test-database.js';
import { send } from '../../harness/traffic.js';

/*
 * The request deadline (acquire + statement deadline): a handler that makes several database calls, each within its
 * own deadlines, must still not keep its client waiting past the sum. Real HTTP through the real error boundary.
 */

describe('request deadline', () => {
  let server: Server;
  let url: string;
  let finished = 0;

  before(async () => {
    const app = new Koa<AppState>();
    app.silent = true;
    app.use(async (ctx, next) => {
      ctx.state = new RequestState(silentLogger, 'test');
      await next();
    });
    app.use(errorBoundary({ bodyLimitBytes: 1024 }));
    app.use(requestDeadline(300));
    app.use(async (ctx) => {
      // Three "calls" of 200 ms: each would be within its own deadline, together they are not.
      for (let i = 0; i < 3; i++) await sleep(200);
      finished++;
      ctx.body = { late: true };
    });
    server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('answers 503 + Retry-After at the deadline instead of waiting for the handler, which is left to finish', async () => {
    const sample = await send(url, { path: '/' }, { timeoutMs: 5000 });
    assert.equal(sample.status, 503, sample.body);
    assert.equal(sample.retryAfter, '1');
    assert.equal(JSON.parse(sample.body).error, 'service_unavailable');
    assert.equal(finished, 0, 'answered before the handler finished');
    // Its three 200 ms calls end about 300 ms after the answer: waited for, not assumed done by a fixed time.
    await waitUntil(() => finished === 1, { what: 'the handler ran to its end', timeoutMs: 10_000 });
  });
});

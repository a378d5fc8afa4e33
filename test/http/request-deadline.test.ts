import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../harness/wait-until.js';
import Koa from 'koa';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createPasswordHasher, type PasswordHasher } from '../../server/auth/password-hasher.js';
import { openAdminConnection } from '../../server/db/admin-connection.js';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { errorBoundary } from '../../server/http/error-boundary.js';
import { requestDeadline } from '../../server/http/request-deadline.js';
import { RequestState, type AppState } from '../../server/http/app-state.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';
import { send } from '../../harness/traffic.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';

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

/*
 * An answer at the deadline is the end of the request: a 503 promises that nothing was written, so the handler must
 * not go on to write once the client has it. The real app (composeWorker) with one pool connection; the password hash
 * of the first registration waits for the test, so the deadline passes while the handler is between database calls.
 */
describe('request deadline in the app', () => {
  const connection = testConnection('app_test_request_deadline');
  let admin: Connection;
  let app: InProcessApp;
  let openGate: () => void = () => {};

  before(async () => {
    admin = await freshDatabase(connection);
    const real = await createPasswordHasher({ cost: 10 });
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let calls = 0;
    // Only the first hash waits for the gate; the rest are the real hasher's.
    const gated: PasswordHasher = {
      ...real,
      async hash(password) {
        if (++calls === 1) await gate;
        return real.hash(password);
      },
    };
    app = await startInProcessApp({
      connection,
      poolMax: 1,
      acquireTimeoutMs: 200,
      hasher: gated,
      env: { DB_QUERY_TIMEOUT_MS: '300' },
    });
  });
  after(async () => {
    openGate();
    await app.close();
    await admin.end();
  });

  const accounts = async (email: string) => {
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM users WHERE email = ?', [email]);
    return Number(rows[0]?.['n']);
  };

  it('writes nothing after answering 503: a registration answered at the deadline never creates its account', async () => {
    const late = 'late@example.com';
    const answered = await send(
      app.url,
      { method: 'POST', path: '/api/users', json: { email: late, password: 'analytical-engine', name: 'Late' } },
      { timeoutMs: 10_000 },
    );
    assert.equal(answered.status, 503, answered.body);
    assert.equal(answered.retryAfter, '1');
    // The handler resumes now. With one pool connection, served first come first served, whatever it does with the
    // database is done before the next registration gets the connection: when that one is answered, the first is over.
    openGate();
    const next = await send(
      app.url,
      {
        method: 'POST',
        path: '/api/users',
        json: { email: 'next@example.com', password: 'analytical-engine', name: 'N' },
      },
      { timeoutMs: 10_000 },
    );
    assert.equal(next.status, 201, next.body);
    assert.equal(await accounts('next@example.com'), 1);
    assert.equal(await accounts(late), 0, 'the request answered 503 created its account after all');
  });
});

/*
 * What the deadline answers depends on what it cut off. The statement deadline is far away here, so only the request's
 * own deadline can end these statements; each is held on the server by a row lock the test holds, so it is certainly
 * sent and unanswered when the deadline comes.
 */
describe('request deadline over a statement in flight', () => {
  const connection = testConnection('app_test_request_deadline_write');
  let admin: Connection;
  let locker: Connection;
  let pool: DbPool;
  let server: Server;
  let url: string;

  before(async () => {
    admin = await freshDatabase(connection);
    await admin.query('CREATE TABLE probe (id INT PRIMARY KEY)');
    locker = await openAdminConnection(connection, 5000);
    pool = createDbPool(
      { connection, max: 2, maxIdle: 2, acquireTimeoutMs: 5000, queryTimeoutMs: 60_000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
    const app = new Koa<AppState>();
    app.silent = true;
    app.use(async (ctx, next) => {
      ctx.state = new RequestState(silentLogger, 'test');
      await next();
    });
    app.use(errorBoundary({ bodyLimitBytes: 1024 }));
    app.use(requestDeadline(300));
    app.use(async (ctx) => {
      const { signal } = ctx.state;
      if (ctx.path === '/autocommit') {
        await pool.execute('INSERT INTO probe VALUES (1)', [], signal);
      } else {
        await pool.withConnection(async (c) => {
          await c.beginTransaction();
          await c.query('INSERT INTO probe VALUES (1)');
          await c.commit();
        }, signal);
      }
      ctx.body = { written: true };
    });
    server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await pool.end();
    await locker.end();
    await admin.end();
  });
  beforeEach(async () => {
    await admin.query('DELETE FROM probe');
    // An uncommitted row 1: an INSERT of the same key waits on the server until the locker rolls back.
    await locker.query('BEGIN');
    await locker.query('INSERT INTO probe VALUES (1)');
  });
  afterEach(async () => {
    await locker.query('ROLLBACK');
  });

  it('answers 504 outcome_unknown when it cut off a write that commits by itself', async () => {
    const sample = await send(url, { method: 'POST', path: '/autocommit' }, { timeoutMs: 5000 });
    assert.equal(sample.status, 504, sample.body);
    assert.equal(sample.retryAfter, '1');
    assert.equal(JSON.parse(sample.body).error, 'outcome_unknown');
  });

  it('answers 503 when it cut off a write inside a transaction, which is rolled back', async () => {
    const sample = await send(url, { method: 'POST', path: '/transaction' }, { timeoutMs: 5000 });
    assert.equal(sample.status, 503, sample.body);
    await locker.query('ROLLBACK');
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM probe');
    assert.equal(Number(rows[0]?.['n']), 0, 'the transaction was killed, not committed');
  });
});

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { openAdminConnection } from '../../server/db/admin-connection.js';
import { request, type JsonResponse } from '../../harness/http-client.js';
import { freshDatabase, testConnection } from '../../harness/test-database.js';
import { startFreezableProxy, type FreezableProxy } from '../helpers/freezable-proxy.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';

/*
 * A 503 promises that nothing was written. A registration is one autocommit INSERT: once it is sent, a deadline or a
 * lost connection leaves its outcome unknown, so the answer is 504 `outcome_unknown`, never 503. The INSERT is held
 * on the server by a row lock the test takes (an uncommitted registration of the same email), so it is certainly sent
 * and certainly unanswered when the fault comes. Reads cut off the same way stay 503.
 */

const database = 'app_test_outcome_unknown';
const direct = testConnection(database);
const password = 'analytical-engine';

describe('an answer never lies about a write', function () {
  this.timeout(60_000);
  let admin: Connection;
  let locker: Connection;
  let proxy: FreezableProxy;

  before(async () => {
    admin = await freshDatabase(direct);
    locker = await openAdminConnection(direct, 5000);
  });
  after(async () => {
    await locker.end();
    await admin.end();
  });
  beforeEach(async () => {
    proxy = await startFreezableProxy({ host: direct.host, port: direct.port });
  });
  afterEach(async () => {
    await locker.query('ROLLBACK');
    await proxy.close();
  });

  /** Holds the row an INSERT of `email` would take, so that INSERT waits on the server until `locker` rolls back. */
  async function lockEmail(email: string): Promise<void> {
    await locker.query('BEGIN');
    await locker.query(
      "INSERT INTO users (email, name, password_hash, created_at) VALUES (?, 'lock', 'x', UTC_TIMESTAMP(3))",
      [email],
    );
  }

  /** Resolves once the app's INSERT of `email` is running (waiting for the lock) on the server. */
  async function insertRunning(): Promise<void> {
    for (let i = 0; i < 400; i++) {
      const [rows] = await admin.query<RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'INSERT INTO users%' AND ID <> ?",
        [database, locker.threadId],
      );
      if (Number(rows[0]?.['n']) > 0) return;
      await sleep(25);
    }
    throw new Error('the INSERT never ran');
  }

  const accounts = async (email: string) => {
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM users WHERE email = ?', [email]);
    return Number(rows[0]?.['n']);
  };

  const register = (app: InProcessApp, email: string): Promise<JsonResponse> =>
    request(`${app.url}/api/users`, { method: 'POST', json: { email, password, name: 'Unknown' } });

  it('an autocommit INSERT past its statement deadline is 504 outcome_unknown with Retry-After', async () => {
    const app = await startInProcessApp({
      connection: { ...direct, port: proxy.port },
      acquireTimeoutMs: 1000,
      env: { DB_QUERY_TIMEOUT_MS: '500' },
    });
    try {
      const email = 'deadline@example.com';
      await lockEmail(email);
      const answer = await register(app, email);
      assert.equal(answer.status, 504, answer.text);
      assert.equal(answer.body['error'], 'outcome_unknown');
      assert.equal(answer.body['type'], '/problems/outcome-unknown');
      assert.equal(answer.headers.get('retry-after'), '1');
    } finally {
      await app.close();
    }
  });

  it('an INSERT the server committed but whose answer was lost with the connection is 504, not 503', async () => {
    // Deadlines far away: the connection is lost first, at a moment the test chooses.
    const app = await startInProcessApp({
      connection: { ...direct, port: proxy.port },
      acquireTimeoutMs: 10_000,
      env: { DB_QUERY_TIMEOUT_MS: '30000' },
    });
    try {
      const email = 'committed@example.com';
      await lockEmail(email);
      const answer = register(app, email);
      await insertRunning();
      // The INSERT has reached the server; nothing the server says from now on reaches the app.
      proxy.freeze();
      await locker.query('ROLLBACK');
      for (let i = 0; i < 400 && (await accounts(email)) === 0; i++) await sleep(25);
      assert.equal(await accounts(email), 1, 'the server committed the registration');
      proxy.sever();
      const response = await answer;
      assert.equal(response.status, 504, response.text);
      assert.equal(response.body['error'], 'outcome_unknown');
    } finally {
      await app.close();
    }
  });

  it('a read cut off the same way stays 503: nothing could have been written', async () => {
    const app = await startInProcessApp({
      connection: { ...direct, port: proxy.port },
      acquireTimeoutMs: 1000,
      env: { DB_QUERY_TIMEOUT_MS: '500' },
    });
    try {
      assert.equal((await request(`${app.url}/readyz`)).status, 200);
      proxy.freeze();
      const answer = await request(`${app.url}/readyz`);
      assert.equal(answer.status, 503, answer.text);
      assert.equal(answer.body['error'], 'service_unavailable');
    } finally {
      await app.close();
    }
  });
});

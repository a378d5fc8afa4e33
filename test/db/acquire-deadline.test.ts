import assert from 'node:assert/strict';
import type { Connection } from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../harness/wait-until.js';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { DatabaseUnavailableError } from '../../server/db/db-errors.js';
import { request } from '../../harness/http-client.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';
import { freshDatabase, serverSideConnections, silentLogger, testConnection } from '../../harness/test-database.js';

const database = 'app_test_deadline';
const connection = testConnection(database);

describe('acquire deadline', () => {
  let admin: Connection;
  before(async () => {
    admin = await freshDatabase(connection);
  });
  after(async () => {
    await admin.end();
  });

  describe('through the HTTP API (pool of 1 held by a slow query)', () => {
    let app: InProcessApp;
    beforeEach(async () => {
      app = await startInProcessApp({ connection, poolMax: 1, acquireTimeoutMs: 300 });
    });
    afterEach(async () => {
      await app.close();
    });

    it('answers 503 with Retry-After within the deadline, and leaks nothing', async () => {
      const slow = request(`${app.url}/test/db-sleep?seconds=1.5`);
      await waitUntil(() => app.db.state().used === 1, {
        what: 'the slow query holds the only connection',
        timeoutMs: 1000,
      });

      const started = performance.now();
      const blocked = await request(`${app.url}/readyz`);
      const waitedMs = performance.now() - started;
      assert.equal(blocked.status, 503);
      assert.equal(blocked.headers.get('retry-after'), '1');
      assert.equal(blocked.body['error'], 'service_unavailable');
      assert.ok(waitedMs >= 250 && waitedMs < 2300, `waited ${waitedMs} ms for a 300 ms deadline`);

      assert.equal((await slow).status, 200);
      const state = app.db.state();
      assert.deepEqual(
        { used: state.used, pending: state.pending, idle: state.idle },
        { used: 0, pending: 0, idle: 1 },
      );
      assert.equal(await serverSideConnections(admin, database), 1, 'MariaDB sees exactly the one pooled connection');
      assert.equal((await request(`${app.url}/readyz`)).status, 200);
    });
  });

  describe('in the pool itself', () => {
    let pool: DbPool;
    beforeEach(() => {
      pool = createDbPool(
        { connection, max: 2, maxIdle: 2, acquireTimeoutMs: 200, idleTimeoutMs: 60_000 },
        { logger: silentLogger },
      );
    });
    afterEach(async () => {
      await pool.end();
    });

    it('gives a connection freed after its waiter gave up to the next waiter, not to the abandoned one', async () => {
      const holders = [pool.execute('SELECT SLEEP(0.6)'), pool.execute('SELECT SLEEP(0.6)')];
      // Both connections opened and held (opening takes longer on a busy machine), before anyone waits.
      await waitUntil(() => pool.state().used === 2, { what: 'both connections held', timeoutMs: 500 });
      const waiters = Array.from({ length: 5 }, () =>
        pool.execute('SELECT 1').then(
          () => 'ok',
          (error: unknown) => error,
        ),
      );
      await sleep(50);
      assert.equal(pool.state().pending, 5);
      const outcomes = await Promise.all(waiters);
      for (const outcome of outcomes) {
        assert.ok(outcome instanceof DatabaseUnavailableError && outcome.code === 'acquire_timeout', String(outcome));
      }
      assert.equal(pool.state().pending, 0, 'timed-out waiters left the queue');
      await Promise.all(holders);
      assert.deepEqual(pool.state(), { used: 0, idle: 2, pending: 0, creating: 0, max: 2, idleMax: 2 });
      assert.equal(await serverSideConnections(admin, database), 2);
      // Both connections are really usable again.
      await Promise.all([pool.execute('SELECT 1'), pool.execute('SELECT 1')]);
      assert.equal(pool.state().used, 0);
    });

    it('never opens more than its max, however many requests queue', async () => {
      let peak = 0;
      const timer = setInterval(() => (peak = Math.max(peak, pool.state().used + pool.state().idle)), 5);
      // MariaDB's own count while the queue is long, not only the pool's bookkeeping: a connection the pool lost track
      // of would show here.
      let serverPeak = 0;
      let loading = true;
      const watcher = (async () => {
        while (loading) serverPeak = Math.max(serverPeak, await serverSideConnections(admin, database));
      })();
      await Promise.all(Array.from({ length: 40 }, () => pool.execute('SELECT SLEEP(0.01)').catch(() => undefined)));
      loading = false;
      await watcher;
      clearInterval(timer);
      assert.ok(peak <= 2, `peak ${peak}`);
      assert.ok(serverPeak >= 1 && serverPeak <= 2, `MariaDB saw ${serverPeak} connections from the pool`);
      assert.ok((await serverSideConnections(admin, database)) <= 2);
    });
  });
});

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from 'mysql2/promise';
import { createDbPool, type DbPool, type DbConnection } from '../../server/db/create-db-pool.js';
import { DatabaseUnavailableError } from '../../server/db/db-errors.js';
import { freshDatabase, serverSideConnections, silentLogger, testConnection } from '../../harness/test-database.js';

/*
 * A pool's ceiling changes while it serves (APP_REPLICAS=auto): lowering it closes idle connections above it at once
 * and retires used ones as their requests end, without failing them; MySQL's own count follows.
 */

const database = 'app_test_pool_ceiling';
const connection = testConnection(database);

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const giveUpAt = Date.now() + ms; Date.now() < giveUpAt; await sleep(25)) if (await check()) return true;
  return check();
}

describe('pool ceiling, changed live', () => {
  let admin: Connection;
  let pool: DbPool;
  before(async () => {
    admin = await freshDatabase(connection);
  });
  after(async () => {
    await admin.end();
  });
  beforeEach(() => {
    pool = createDbPool(
      { connection, max: 4, maxIdle: 4, acquireTimeoutMs: 1000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
  });
  afterEach(async () => {
    await pool.end();
  });

  /** Holds `count` connections until `release` resolves. */
  function hold(count: number, release: Promise<void>): Promise<unknown>[] {
    return Array.from({ length: count }, () =>
      pool.withConnection((c: DbConnection) => c.query('SELECT 1').then(() => release)),
    );
  }

  it('closes idle connections above a lower ceiling at once and used ones as they come home, failing no request', async () => {
    let letGo: () => void = () => {};
    const released = new Promise<void>((resolve) => (letGo = resolve));
    let letIdle: () => void = () => {};
    const idled = new Promise<void>((resolve) => (letIdle = resolve));
    try {
      const first = hold(2, released);
      const second = hold(2, idled);
      assert.ok(await until(async () => pool.state().used === 4, 5000), 'four connections open and in use');
      letIdle();
      await Promise.all(second); // two of them idle now
      assert.equal(await serverSideConnections(admin, database), 4);

      pool.setCeiling(1);
      assert.equal(pool.state().max, 1, 'the state (db_client_connection_max) reports the live ceiling');
      assert.ok(
        await until(async () => (await serverSideConnections(admin, database)) === 2, 5000),
        'the idle ones are closed at once',
      );
      // The pool counts a closed one until its own socket has seen the server close it too.
      assert.ok(await until(async () => pool.liveConnections() === 2, 5000), 'the two in use are still open');
      assert.equal(await serverSideConnections(admin, database), 2);

      letGo();
      await Promise.all(first); // both requests succeed
      assert.ok(
        await until(
          async () => pool.liveConnections() <= 1 && (await serverSideConnections(admin, database)) <= 1,
          5000,
        ),
        'down to the ceiling on the server',
      );
      assert.deepEqual(await pool.execute('SELECT 1 AS one'), [{ one: 1 }]);
    } finally {
      letIdle();
      letGo();
    }
  });

  it('refuses at once with no share (ceiling 0), and grows again when raised', async () => {
    await pool.execute('SELECT 1');
    pool.setCeiling(0);
    const started = performance.now();
    await assert.rejects(
      pool.execute('SELECT 1'),
      (error: unknown) => error instanceof DatabaseUnavailableError && error.code === 'no_share',
    );
    // Refused before the pool's 1,000 ms acquire deadline could have run out: no waiting for a connection.
    assert.ok(performance.now() - started < 1000, 'no wait for the acquire deadline');
    assert.ok(await until(async () => (await serverSideConnections(admin, database)) === 0, 5000));

    pool.setCeiling(3);
    let letGo: () => void = () => {};
    const released = new Promise<void>((resolve) => (letGo = resolve));
    const held = hold(3, released);
    try {
      assert.ok(await until(async () => pool.state().used === 3, 5000), 'three at once under the raised ceiling');
      assert.equal(pool.state().pending, 0);
    } finally {
      letGo();
    }
    await Promise.all(held);
  });

  it('keeps idle connections up to DB_MAX_IDLE under a raised ceiling, also when it started at 0', async () => {
    const started = createDbPool(
      { connection, max: 0, maxIdle: 2, acquireTimeoutMs: 1000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
    try {
      assert.equal(started.state().idleMax, 0);
      started.setCeiling(4);
      assert.equal(started.state().idleMax, 2, 'idle connections kept once raised');
    } finally {
      await started.end();
    }
  });
});

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { registerConnection } from '../../server/live-shares/replica-claims.js';
import { freshDatabase, serverSideConnections, silentLogger, testConnection } from '../../harness/test-database.js';
import { startFreezableProxy, type FreezableProxy } from '../helpers/freezable-proxy.js';

/*
 * Every connection the pool gives up on is closed AND its server thread ends, so the pool never holds more threads on
 * the server than its ceiling: a connection whose idle ping went unanswered, one past its lifetime whose COM_QUIT never
 * arrives (the path froze), and one whose admission (APP_REPLICAS=auto registers each new connection under the
 * replica's claim) stalls past the create deadline. MySQL's own PROCESSLIST is the judge.
 */

const database = 'app_test_abandoned';
const connection = testConnection(database);

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const giveUpAt = Date.now() + ms; Date.now() < giveUpAt; await sleep(50)) if (await check()) return true;
  return check();
}

async function threadIds(admin: Connection): Promise<Set<number>> {
  const [rows] = await admin.query<RowDataPacket[]>(
    'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
    [database],
  );
  return new Set(rows.map((row) => Number(row['id'])));
}

describe('connections the pool gives up on', function () {
  this.timeout(60_000);
  let admin: Connection;
  let pool: DbPool | undefined;
  let proxy: FreezableProxy | undefined;
  let clock: number;

  before(async () => {
    admin = await freshDatabase(connection);
  });
  after(async () => {
    await admin.end();
  });
  beforeEach(() => {
    clock = 0;
  });
  afterEach(async () => {
    await pool?.end();
    pool = undefined;
    await proxy?.close();
    proxy = undefined;
  });

  it('kills the server threads of idle connections whose ping went unanswered, so MySQL holds no more than the ceiling', async () => {
    proxy = await startFreezableProxy({ host: connection.host, port: connection.port });
    pool = createDbPool(
      {
        connection: { ...connection, port: proxy.port },
        max: 4,
        maxIdle: 4,
        acquireTimeoutMs: 3000,
        queryTimeoutMs: 20_000,
        idleTimeoutMs: 600_000,
        pingAfterIdleMs: 1000,
      },
      { logger: silentLogger, now: () => clock },
    );
    const db = pool;
    const hold = () => db.withConnection((c) => c.query('SELECT SLEEP(0.2)'));
    await Promise.all([hold(), hold(), hold(), hold()]);
    const frozen = await threadIds(admin);
    assert.equal(frozen.size, 4, 'four connections open');
    proxy.freeze();
    clock = 5000;
    // Every idle connection fails its ping; the requests get fresh ones (new connections still pass the proxy).
    await Promise.all([hold(), hold(), hold(), hold()]);
    const gone = await until(async () => [...(await threadIds(admin))].every((id) => !frozen.has(id)), 10_000);
    const now = await threadIds(admin);
    assert.ok(gone, `the frozen connections' threads still exist: ${[...now].filter((id) => frozen.has(id))}`);
    assert.ok(now.size <= 4, `MySQL holds ${now.size} threads for a pool of 4`);
  });

  it('kills the server thread of a connection past its lifetime whose COM_QUIT never arrived', async () => {
    proxy = await startFreezableProxy({ host: connection.host, port: connection.port });
    pool = createDbPool(
      {
        connection: { ...connection, port: proxy.port },
        max: 1,
        maxIdle: 1,
        acquireTimeoutMs: 3000,
        idleTimeoutMs: 600_000,
        maxLifetimeMs: 1000,
        pingAfterIdleMs: 600_000,
      },
      { logger: silentLogger, now: () => clock, random: () => 0 },
    );
    await pool.execute('SELECT 1');
    const [old] = [...(await threadIds(admin))];
    assert.ok(old !== undefined);
    proxy.freeze();
    clock = 2000;
    await pool.execute('SELECT 1');
    assert.ok(
      await until(async () => !(await threadIds(admin)).has(old), 10_000),
      'the expired connection’s server thread is still there',
    );
    assert.equal((await threadIds(admin)).size, 1);
  });

  it('holds MySQL to the ceiling while admitting new connections stalls, and kills what it gave up on', async () => {
    // A claim that admits connections, whose row another session holds locked: every registration waits on it.
    await admin.query(
      'INSERT INTO replica_claims (replica_id, granted, wanted, joined_at, expires_at) VALUES (?, 10, 10, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 1 DAY)',
      ['stalled'],
    );
    const locker = await createConnection({ ...connection });
    await locker.query('START TRANSACTION');
    await locker.query("SELECT * FROM replica_claims WHERE replica_id = 'stalled' FOR UPDATE");
    const ceiling = 4;
    pool = createDbPool(
      { connection, max: ceiling, maxIdle: ceiling, acquireTimeoutMs: 1000, idleTimeoutMs: 600_000 },
      { logger: silentLogger, onConnect: (c) => registerConnection(c, 'stalled') },
    );
    const db = pool;
    let stop = false;
    let served = 0;
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) {
        await db.execute('SELECT 1').then(
          () => served++,
          () => sleep(20),
        );
      }
    });
    let peak = 0;
    const sampleUntil = Date.now() + 5000;
    while (Date.now() < sampleUntil) {
      const ids = await threadIds(admin);
      ids.delete(locker.threadId);
      peak = Math.max(peak, ids.size);
      await sleep(50);
    }
    // Beside the pool's own, one short-lived connection at a time may be killing what it gave up on.
    assert.ok(peak <= ceiling + 1, `MySQL held ${peak} threads of a pool with ceiling ${ceiling}`);
    assert.equal(served, 0, 'no connection was admitted while its claim was locked');
    await locker.query('ROLLBACK');
    assert.ok(await until(async () => served > 0, 10_000), 'the pool serves again once admission no longer stalls');
    stop = true;
    await Promise.all(clients);
    await locker.end();
    assert.ok((await serverSideConnections(admin, database)) <= ceiling + 1);
  });
});

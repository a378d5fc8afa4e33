import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { DatabaseUnavailableError, OutcomeUnknownError } from '../../server/db/db-errors.js';
import { noopPoolObserver, type CloseReason } from '../../server/db/pool-observer.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';
import { startFreezableProxy } from '../helpers/freezable-proxy.js';

/*
 * The statement deadline: a borrower's statements that outlive it fail with `query_timeout`; the connection is
 * destroyed, never handed out again, and its server-side thread is killed so the statement stops running on MySQL.
 */

const database = 'app_test_statement_deadline';
const connection = testConnection(database);

async function threadRunning(admin: Connection, id: number): Promise<boolean> {
  const [rows] = await admin.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?',
    [id],
  );
  return Number(rows[0]?.['n']) > 0;
}

async function connectionId(pool: DbPool): Promise<number> {
  const rows = await pool.execute<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
  return Number(rows[0]?.['id']);
}

describe('statement deadline', () => {
  let admin: Connection;
  let pool: DbPool;
  let closed: CloseReason[];
  let timeouts: number;
  before(async () => {
    admin = await freshDatabase(connection);
  });
  after(async () => {
    await admin.end();
  });
  beforeEach(() => {
    closed = [];
    timeouts = 0;
    const observer = {
      ...noopPoolObserver,
      closed: (reason: CloseReason) => closed.push(reason),
      statementTimedOut: () => timeouts++,
    };
    pool = createDbPool(
      { connection, max: 1, maxIdle: 1, acquireTimeoutMs: 2000, queryTimeoutMs: 300, idleTimeoutMs: 60_000 },
      { logger: silentLogger, observer },
    );
  });
  afterEach(async () => {
    await pool.end();
  });

  it('fails a statement that outlives it, destroys its connection and kills its server thread', async () => {
    const first = await connectionId(pool);
    const outcome = await pool.execute('SELECT SLEEP(20)').then(
      () => 'completed',
      (error: unknown) => error,
    );
    assert.ok(outcome instanceof DatabaseUnavailableError && outcome.code === 'query_timeout', String(outcome));
    assert.equal(timeouts, 1);
    // The kill runs in the background; give it a generous while.
    for (let i = 0; i < 100 && (await threadRunning(admin, first)); i++) await sleep(50);
    assert.equal(await threadRunning(admin, first), false, 'the server thread is gone');
    const next = await connectionId(pool);
    assert.notEqual(next, first, 'the timed-out connection was not handed out again');
    assert.ok(closed.includes('query_timeout'), `closed: ${closed.join(', ')}`);
    assert.equal(pool.state().used, 0);
  });

  it('bounds a withConnection borrower as a whole, not statement by statement', async () => {
    const outcome = await pool
      .withConnection(async (c) => {
        await c.query('SELECT SLEEP(0.2)');
        await c.query('SELECT SLEEP(0.2)');
        return 'completed';
      })
      .catch((error: unknown) => error);
    assert.ok(outcome instanceof DatabaseUnavailableError && outcome.code === 'query_timeout', String(outcome));
  });

  it('leaves statements that finish in time alone', async () => {
    const id = await connectionId(pool);
    await pool.execute('SELECT SLEEP(0.05)');
    assert.equal(await connectionId(pool), id);
    assert.equal(timeouts, 0);
  });

  describe('a statement that may have committed', () => {
    // Through a proxy that stops forwarding: each statement below is sent and never answered.
    const outcome = (promise: Promise<unknown>) =>
      promise.then(
        () => 'completed',
        (error: unknown) => error,
      );
    const kindOf = (error: unknown) =>
      error instanceof OutcomeUnknownError
        ? `unknown ${error.code}`
        : error instanceof DatabaseUnavailableError
          ? `unavailable ${error.code}`
          : String(error);

    it('fails with OutcomeUnknownError when it is a COMMIT or an autocommit write, not when it could not commit', async () => {
      await admin.query('CREATE TABLE IF NOT EXISTS probe (id INT PRIMARY KEY)');
      const proxy = await startFreezableProxy({ host: connection.host, port: connection.port });
      const frozen = createDbPool(
        {
          connection: { ...connection, port: proxy.port },
          // One connection: each step below opens a fresh one, since the frozen one before it was abandoned.
          max: 1,
          maxIdle: 1,
          acquireTimeoutMs: 2000,
          queryTimeoutMs: 300,
          idleTimeoutMs: 60_000,
        },
        { logger: silentLogger },
      );
      try {
        const inTransaction = (last: 'insert' | 'commit') =>
          frozen.withConnection(async (c) => {
            await c.beginTransaction();
            if (last === 'commit') await c.query('INSERT INTO probe VALUES (1)');
            proxy.freeze();
            if (last === 'insert') await c.query('INSERT INTO probe VALUES (2)');
            else await c.commit();
          });
        const freezeThen = async (sql: string) => {
          await frozen.execute('SELECT 1');
          proxy.freeze();
          return frozen.execute(sql);
        };
        assert.equal(kindOf(await outcome(freezeThen('INSERT INTO probe VALUES (3)'))), 'unknown query_timeout');
        assert.equal(kindOf(await outcome(freezeThen('SELECT * FROM probe'))), 'unavailable query_timeout');
        assert.equal(kindOf(await outcome(inTransaction('commit'))), 'unknown query_timeout');
        assert.equal(kindOf(await outcome(inTransaction('insert'))), 'unavailable query_timeout');
      } finally {
        await frozen.end();
        await proxy.close();
      }
    });

    it('fails with DatabaseUnavailableError, never OutcomeUnknownError, when the server had closed the connection before the write was sent', async () => {
      await admin.query('CREATE TABLE IF NOT EXISTS probe (id INT PRIMARY KEY)');
      const error = await outcome(
        pool.withConnection(async (c) => {
          const [[own]] = (await c.query('SELECT CONNECTION_ID() AS id')) as unknown as [RowDataPacket[]];
          await admin.query(`KILL ${Number(own?.['id'])}`);
          // The server's close has arrived and been read: the write below is never sent.
          await sleep(200);
          await c.execute('INSERT INTO probe VALUES (5)');
        }),
      );
      assert.equal(kindOf(error), 'unavailable connection_closed');
      const [rows] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM probe WHERE id = 5');
      assert.equal(Number(rows[0]?.['n']), 0);
    });

    it('fails with OutcomeUnknownError when the connection is lost under a COMMIT', async () => {
      await admin.query('CREATE TABLE IF NOT EXISTS probe (id INT PRIMARY KEY)');
      const proxy = await startFreezableProxy({ host: connection.host, port: connection.port });
      const lossy = createDbPool(
        {
          connection: { ...connection, port: proxy.port },
          max: 1,
          maxIdle: 1,
          acquireTimeoutMs: 2000,
          queryTimeoutMs: 30_000,
          idleTimeoutMs: 60_000,
        },
        { logger: silentLogger },
      );
      try {
        const committing = outcome(
          lossy.withConnection(async (c) => {
            await c.beginTransaction();
            await c.query('INSERT INTO probe VALUES (4)');
            proxy.freeze();
            const commit = c.commit();
            proxy.sever();
            await commit;
          }),
        );
        const error = await committing;
        assert.ok(error instanceof OutcomeUnknownError, kindOf(error));
      } finally {
        await lossy.end();
        await proxy.close();
      }
    });
  });
});

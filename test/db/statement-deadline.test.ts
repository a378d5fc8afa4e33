import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { DatabaseUnavailableError } from '../../server/db/db-errors.js';
import { noopPoolObserver, type CloseReason } from '../../server/db/pool-observer.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';

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
});

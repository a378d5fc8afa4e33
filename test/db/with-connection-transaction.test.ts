import assert from 'node:assert/strict';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';

/*
 * A connection goes back to the pool outside any transaction, whatever the borrower did: a transaction left open
 * would hand its locks, and its uncommitted writes, to the next unrelated borrower (whose INSERT is then lost when
 * the connection closes without a COMMIT).
 */

const database = 'app_test_with_connection';
const connection = testConnection(database);

async function inTransaction(pool: DbPool): Promise<number> {
  return pool.withConnection(async (c) => {
    const [rows] = await c.query<RowDataPacket[]>('SELECT @@in_transaction AS t');
    return Number(rows[0]?.['t']);
  });
}

describe('withConnection and transactions', () => {
  let admin: Connection;
  let pool: DbPool;
  before(async () => {
    admin = await freshDatabase(connection);
    await admin.query('CREATE TABLE tx_probe (id INT PRIMARY KEY)');
  });
  after(async () => {
    await admin.end();
  });
  beforeEach(async () => {
    await admin.query('DELETE FROM tx_probe');
    // One connection, so the next borrower is certain to get the same one.
    pool = createDbPool(
      { connection, max: 1, maxIdle: 1, acquireTimeoutMs: 1000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
  });
  afterEach(async () => {
    await pool.end();
  });

  it('rolls back a transaction a non-fatal error (ER_DUP_ENTRY) interrupted', async () => {
    await admin.query('INSERT INTO tx_probe VALUES (1)');
    const failure = await pool
      .withConnection(async (c) => {
        await c.beginTransaction();
        await c.query('INSERT INTO tx_probe VALUES (2)');
        await c.query('INSERT INTO tx_probe VALUES (1)');
        await c.commit();
      })
      .catch((error: unknown) => error);
    assert.equal((failure as { code?: string }).code, 'ER_DUP_ENTRY');
    assert.equal(await inTransaction(pool), 0, 'the next borrower starts outside any transaction');
    const [rows] = await admin.query<RowDataPacket[]>('SELECT id FROM tx_probe ORDER BY id');
    assert.deepEqual(
      rows.map((r) => r['id']),
      [1],
      'the interrupted transaction wrote nothing',
    );
  });

  it('rolls back a transaction the borrower returned without committing, so a later write is not swallowed', async () => {
    await pool.withConnection(async (c) => {
      await c.beginTransaction();
      await c.query('INSERT INTO tx_probe VALUES (3)');
    });
    assert.equal(await inTransaction(pool), 0);
    await pool.execute('INSERT INTO tx_probe VALUES (4)');
    await pool.end();
    const [rows] = await admin.query<RowDataPacket[]>('SELECT id FROM tx_probe ORDER BY id');
    assert.deepEqual(
      rows.map((r) => r['id']),
      [4],
      'the autocommitted INSERT survives the pool closing',
    );
  });
});

import assert from 'node:assert/strict';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../harness/wait-until.js';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { DatabaseUnavailableError } from '../../server/db/db-errors.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';

const database = 'app_test_eviction';
const connection = testConnection(database);

async function connectionId(pool: DbPool): Promise<number> {
  const rows = await pool.execute<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
  return Number(rows[0]?.['id']);
}

describe('dead connection eviction', () => {
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
      { connection, max: 1, maxIdle: 1, acquireTimeoutMs: 1000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
  });
  afterEach(async () => {
    await pool.end();
  });

  it('never hands out an idle connection the server killed', async () => {
    const first = await connectionId(pool);
    await admin.query(`KILL ${first}`);
    // Once the driver has seen the socket close (an event, later on a busy machine), it is not reported as idle.
    await waitUntil(() => pool.state().idle === 0, { what: 'the dead connection no longer idle', timeoutMs: 10_000 });
    const second = await connectionId(pool);
    assert.notEqual(second, first);
    assert.equal(pool.state().used, 0);
  });

  it('turns a connection lost mid-query into DatabaseUnavailableError and replaces the connection', async () => {
    const id = await connectionId(pool);
    // Settle into a value at once: the rejection arrives while we are still awaiting the KILL.
    const slow = pool.execute('SELECT SLEEP(5)').then(
      () => 'completed',
      (error: unknown) => error,
    );
    await sleep(100);
    await admin.query(`KILL ${id}`);
    const outcome = await slow;
    assert.ok(
      outcome instanceof DatabaseUnavailableError && outcome.code === 'PROTOCOL_CONNECTION_LOST',
      String(outcome),
    );
    const next = await connectionId(pool);
    assert.notEqual(next, id);
  });
});

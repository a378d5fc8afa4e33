import assert from 'node:assert/strict';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { noopPoolObserver, type CloseReason } from '../../server/db/pool-observer.js';
import { startFreezableProxy, type FreezableProxy } from '../helpers/freezable-proxy.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';

/*
 * Connection lifetime and the idle check, on an injected clock (so nothing here depends on how fast the machine is):
 * a connection past its lifetime is closed instead of handed out, so the pool follows a failover that moved the
 * hostname; one idle long enough is pinged first, and one whose path died silently is replaced instead of hanging
 * its borrower until the statement deadline.
 */

const database = 'app_test_lifetime';
const connection = testConnection(database);

async function connectionId(pool: DbPool): Promise<number> {
  const rows = await pool.execute<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
  return Number(rows[0]?.['id']);
}

describe('connection lifetime and idle check', () => {
  let admin: Connection;
  let pool: DbPool | undefined;
  let proxy: FreezableProxy | undefined;
  let clock: number;
  let closed: CloseReason[];
  const observer = { ...noopPoolObserver, closed: (reason: CloseReason) => closed.push(reason) };

  before(async () => {
    admin = await freshDatabase(connection);
  });
  after(async () => {
    await admin.end();
  });
  beforeEach(() => {
    clock = 0;
    closed = [];
  });
  afterEach(async () => {
    await pool?.end();
    pool = undefined;
    await proxy?.close();
    proxy = undefined;
  });

  it('closes a connection once it is older than its lifetime less its jitter, and not before', async () => {
    // random 0.5: lifetime 1000 × (1 − 0.1 × 0.5) = 950.
    pool = createDbPool(
      {
        connection,
        max: 1,
        maxIdle: 1,
        acquireTimeoutMs: 2000,
        idleTimeoutMs: 60_000,
        maxLifetimeMs: 1000,
        pingAfterIdleMs: 100_000,
      },
      { logger: silentLogger, observer, now: () => clock, random: () => 0.5 },
    );
    const first = await connectionId(pool);
    clock = 940;
    assert.equal(await connectionId(pool), first, 'still within its lifetime');
    clock = 960;
    const second = await connectionId(pool);
    assert.notEqual(second, first, 'past its lifetime: replaced');
    assert.deepEqual(closed, ['max_lifetime']);
  });

  it('pings a connection idle past the window and replaces it when the path died without a reset', async () => {
    proxy = await startFreezableProxy({ host: connection.host, port: connection.port });
    pool = createDbPool(
      {
        connection: { ...connection, port: proxy.port },
        max: 1,
        maxIdle: 1,
        acquireTimeoutMs: 3000,
        queryTimeoutMs: 20_000,
        idleTimeoutMs: 60_000,
        pingAfterIdleMs: 1000,
      },
      { logger: silentLogger, observer, now: () => clock },
    );
    const first = await connectionId(pool);
    clock = 500;
    assert.equal(await connectionId(pool), first, 'used within the window: handed out as is');
    proxy.freeze();
    clock = 2000;
    // Without the ping this statement would wait for the statement deadline (20 s here) on the frozen path.
    const second = await connectionId(pool);
    assert.notEqual(second, first);
    assert.deepEqual(closed, ['failed_ping']);
  });
});

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { startMovingEndpoint, type MovingEndpoint } from '../../harness/moving-endpoint.js';
import { startReplicatedMariadb, type ReplicatedMariadb } from '../../harness/replicated-mariadb.js';
import { silentLogger } from '../../harness/test-database.js';

/*
 * A connection given up on has its server thread killed, from a fresh connection to DATABASE_URL. Once the endpoint has
 * moved to another server, that fresh connection reaches the other server, where the same thread id may belong to a
 * stranger: the KILL must never be sent there. Thread ids are small counters on every server, so after a failover the
 * new primary is full of ids the old one also used.
 */

async function connectionId(connection: Connection): Promise<number> {
  const [[row]] = await connection.query<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
  return Number(row?.['id']);
}

/** Opens and closes connections on the server behind the lower thread counter until both hand out the same next id. */
async function alignThreadIds(a: string, b: string): Promise<void> {
  const next = async (url: string) => {
    const connection = await createConnection(url);
    const id = await connectionId(connection);
    await connection.end();
    return id + 1;
  };
  for (let round = 0; round < 10; round++) {
    const [na, nb] = [await next(a), await next(b)];
    if (na === nb) return;
    // Burn the difference on the lower one: the next probes then take the same id on both.
    const lower = na < nb ? a : b;
    for (let i = 0; i < Math.abs(na - nb); i++) await (await createConnection(lower)).end();
  }
  throw new Error('thread ids would not align');
}

describe('failover: the thread of an abandoned connection is killed only on its own server', function () {
  this.timeout(120_000);
  let pair: ReplicatedMariadb;
  let endpoint: MovingEndpoint;
  let pool: DbPool | undefined;

  before(async () => {
    pair = await startReplicatedMariadb();
    endpoint = await startMovingEndpoint(pair.primary().port);
  });
  after(async () => {
    await pool?.end();
    await endpoint?.close();
    await pair?.destroy();
  });

  it('never KILLs, on the server the endpoint moved to, the thread id of a connection to the old one', async () => {
    const old = pair.primary();
    const next = pair.replica();
    await alignThreadIds(pair.appUrl(old.port), pair.appUrl(next.port));
    pool = createDbPool(
      {
        connection: parseDatabaseUrl(pair.appUrl(endpoint.port)),
        max: 1,
        maxIdle: 1,
        acquireTimeoutMs: 2000,
        queryTimeoutMs: 300,
        idleTimeoutMs: 60_000,
      },
      { logger: silentLogger },
    );
    const [own] = await pool.execute<RowDataPacket[]>('SELECT CONNECTION_ID() AS id, @@server_id AS server');
    assert.equal(Number(own?.['server']), 1, 'the pool connection is on the first server');
    endpoint.moveTo(next.port);
    // A stranger on the server the endpoint now reaches, holding the same thread id.
    const stranger = await createConnection(pair.appUrl(next.port));
    assert.equal(await connectionId(stranger), Number(own?.['id']), 'the stranger has the same thread id');

    // The pool's connection (still on the old server) runs past its statement deadline: abandoned, thread killed.
    await assert.rejects(pool.execute('SELECT SLEEP(3)'), { code: 'query_timeout' });
    for (const giveUpAt = Date.now() + 10_000; pool.liveConnections() > 0 && Date.now() < giveUpAt; ) await sleep(50);
    assert.equal(pool.liveConnections(), 0, 'the abandoned connection was let go');

    await stranger.query('SELECT 1').catch((error: unknown) => {
      assert.fail(`the stranger on the new server was killed: ${String(error)}`);
    });
    stranger.destroy();
  });
});

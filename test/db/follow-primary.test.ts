import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { createDbPool, type DbPool, type DbPoolOptions } from '../../server/db/create-db-pool.js';
import { DatabaseUnavailableError, OutcomeUnknownError } from '../../server/db/db-errors.js';
import { noopPoolObserver, type PoolObserver } from '../../server/db/pool-observer.js';
import { transaction } from '../../server/db/transaction.js';
import { startMovingEndpoint, type MovingEndpoint } from '../../harness/moving-endpoint.js';
import { startReplicatedMariadb, type ReplicatedMariadb } from '../../harness/replicated-mariadb.js';
import { silentLogger } from '../../harness/test-database.js';
import type { ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';

/*
 * The pool follows the primary (docs/failover.md), against a real MariaDB primary and replica, the service's pool
 * connecting as `app` through an endpoint that moves as a managed database's cluster endpoint does:
 *
 * - a connection to a server that refuses writes as read-only (1290) is let go, with every other connection to that
 *   server, and the pool refills from the endpoint: one refusal, not one per idle connection;
 * - a write the old primary refused, a transaction whose first write it refused, a statement never sent (its
 *   connection was found closed), a read whose connection was lost and a transaction whose connection was lost before
 *   its COMMIT are retried once, on a fresh connection;
 * - a write whose outcome is unknown is never retried (504);
 * - while no server behind the endpoint takes writes, a request waits for one within the acquire deadline, and fails
 *   503 at that deadline;
 * - reads leave a demoted server within a second even when nothing writes.
 */

interface Seen {
  retries: string[];
}

async function serverIdOf(pool: DbPool): Promise<number> {
  const [row] = await pool.execute<RowDataPacket[]>('SELECT @@server_id AS id');
  return Number(row?.['id']);
}

async function rows(server: ThrowawayMariadb, sql: string): Promise<RowDataPacket[]> {
  const connection = await createConnection(server.url);
  try {
    const [result] = await connection.query<RowDataPacket[]>(sql);
    return result;
  } finally {
    connection.destroy();
  }
}

describe('failover: the pool follows the primary', function () {
  this.timeout(180_000);
  let pair: ReplicatedMariadb;
  let endpoint: MovingEndpoint;
  let pool: DbPool | undefined;
  let seen: Seen;

  before(async () => {
    pair = await startReplicatedMariadb();
    endpoint = await startMovingEndpoint(pair.primary().port);
    await rows(pair.primary(), 'CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64) NOT NULL)');
  });
  after(async () => {
    await endpoint?.close();
    await pair?.destroy();
  });
  afterEach(async () => {
    await pool?.end();
    pool = undefined;
  });

  function open(options: Partial<DbPoolOptions> = {}): DbPool {
    // Each test starts with the endpoint on the primary, whatever the one before left.
    endpoint.moveTo(pair.primary().port);
    seen = { retries: [] };
    const observer: PoolObserver = { ...noopPoolObserver, retried: (reason) => seen.retries.push(reason) };
    pool = createDbPool(
      {
        connection: parseDatabaseUrl(pair.appUrl(endpoint.port)),
        max: 4,
        maxIdle: 4,
        acquireTimeoutMs: 3000,
        queryTimeoutMs: 5000,
        idleTimeoutMs: 60_000,
        followPrimary: true,
        ...options,
      },
      { logger: silentLogger, observer },
    );
    return pool;
  }

  /** Every connection of the pool open and idle, on the server the endpoint reaches now. */
  async function warm(db: DbPool, count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, () => db.execute('SELECT SLEEP(0.1)')));
    assert.equal(db.state().idle, count);
  }

  async function switchover(): Promise<ThrowawayMariadb> {
    const next = await pair.switchover();
    endpoint.moveTo(next.port);
    return next;
  }

  it('a write the old primary refuses is retried on the new one; its other connections cost no request', async () => {
    const db = open();
    await warm(db, 4);
    const next = await switchover();
    for (let i = 0; i < 4; i++)
      await db.execute<ResultSetHeader>('INSERT INTO t (v) VALUES (?)', [`switchover-${i}`]).catch((error) => {
        assert.fail(`write ${i} failed: ${String(error)}`);
      });
    assert.deepEqual(seen.retries, ['read_only'], 'one refusal; the other idle connections left without one');
    assert.equal(await serverIdOf(db), (await rows(next, 'SELECT @@server_id AS id'))[0]?.['id']);
    const written = await rows(next, "SELECT COUNT(*) AS n FROM app.t WHERE v LIKE 'switchover-%'");
    assert.equal(Number(written[0]?.['n']), 4, 'every write is on the new primary, once');
  });

  it('a transaction whose first write the old primary refuses runs again, whole, on the new one', async () => {
    const db = open();
    await warm(db, 2);
    const next = await switchover();
    let runs = 0;
    // As the login throttle does: it rolls back itself before it rethrows.
    await db.withConnection(async (connection) => {
      runs++;
      await connection.beginTransaction();
      try {
        await connection.query('SELECT COUNT(*) FROM t');
        await connection.execute('INSERT INTO t (v) VALUES (?)', ['in-transaction']);
        await connection.commit();
      } catch (error) {
        await connection.rollback();
        throw error;
      }
    });
    assert.equal(runs, 2, 'run on the old primary (refused), then on the new one');
    assert.deepEqual(seen.retries, ['read_only']);
    const written = await rows(next, "SELECT COUNT(*) AS n FROM app.t WHERE v = 'in-transaction'");
    assert.equal(Number(written[0]?.['n']), 1);
  });

  it('a transaction the switchover interrupts after a write of its own runs again, whole, and commits once', async () => {
    const db = open();
    await warm(db, 2);
    let runs = 0;
    let next: ThrowawayMariadb | undefined;
    await transaction(db, async (connection) => {
      runs++;
      await connection.execute('INSERT INTO t (v) VALUES (?)', ['interrupted-1']);
      // The old primary goes read-only while this transaction holds an uncommitted write.
      if (runs === 1) next = await switchover();
      await connection.execute('INSERT INTO t (v) VALUES (?)', ['interrupted-2']);
    });
    assert.equal(runs, 2, 'refused on the old primary after its first write, then run whole on the new one');
    assert.deepEqual(seen.retries, ['read_only']);
    const written = await rows(next!, "SELECT v FROM app.t WHERE v LIKE 'interrupted-%' ORDER BY v");
    assert.deepEqual(
      written.map((row) => row['v']),
      ['interrupted-1', 'interrupted-2'],
      'both writes, once each: the first attempt was rolled back',
    );
  });

  it('reads leave a demoted primary within a second, though nothing writes', async () => {
    const db = open();
    await warm(db, 4);
    const old = Number((await rows(pair.primary(), 'SELECT @@server_id AS id'))[0]?.['id']);
    assert.equal(await serverIdOf(db), old);
    const next = await switchover();
    // A hand-out asks its server whether it still takes writes at most once a second: wait that long, once.
    await sleep(1100);
    const expected = Number((await rows(next, 'SELECT @@server_id AS id'))[0]?.['id']);
    for (let i = 0; i < 4; i++) assert.equal(await serverIdOf(db), expected, `read ${i} ran on the old primary`);
  });

  it('waits for a server that takes writes within the acquire deadline, and answers 503 at that deadline', async () => {
    const db = open({ acquireTimeoutMs: 2000 });
    await warm(db, 2);
    // The old primary refuses writes and the endpoint still reaches it: no server takes writes yet.
    const next = await pair.switchover();
    const started = performance.now();
    const waiting = db.execute('INSERT INTO t (v) VALUES (?)', ['waited']).then(
      () => undefined,
      (error: unknown) => error,
    );
    await sleep(600);
    endpoint.moveTo(next.port);
    const outcome = await waiting;
    assert.equal(outcome, undefined, `the write did not wait for the new primary: ${String(outcome)}`);
    assert.ok(performance.now() - started >= 550, 'it waited for the endpoint to move');

    // Nothing takes writes for longer than the deadline: 503 (nothing written) at the deadline, not before, no hang.
    await pair.switchover();
    const refused = performance.now();
    const failure = await db.execute('INSERT INTO t (v) VALUES (?)', ['never']).catch((error: unknown) => error);
    const waitedMs = performance.now() - refused;
    assert.ok(
      failure instanceof DatabaseUnavailableError && !(failure instanceof OutcomeUnknownError),
      String(failure),
    );
    assert.ok(waitedMs >= 1500 && waitedMs < 4000, `answered after ${Math.round(waitedMs)} ms for a 2000 ms deadline`);
    endpoint.moveTo(pair.primary().port);
    assert.equal((await rows(pair.primary(), "SELECT COUNT(*) AS n FROM app.t WHERE v = 'never'"))[0]?.['n'], 0);
  });

  it('a statement on a connection the server already closed is never sent, and runs on a fresh connection', async () => {
    const db = open({ max: 1, maxIdle: 1 });
    await warm(db, 1);
    const primary = pair.primary();
    let runs = 0;
    await db.withConnection(async (connection) => {
      runs++;
      if (runs === 1) {
        const [[own]] = (await connection.query('SELECT CONNECTION_ID() AS id')) as unknown as [RowDataPacket[]];
        await rows(primary, `KILL ${Number(own?.['id'])}`);
        // The server's close has arrived and been read before the next statement.
        await sleep(200);
      }
      await connection.execute('INSERT INTO t (v) VALUES (?)', ['after-close']);
    });
    assert.equal(runs, 2);
    assert.deepEqual(seen.retries, ['not_sent']);
    assert.equal((await rows(primary, "SELECT COUNT(*) AS n FROM app.t WHERE v = 'after-close'"))[0]?.['n'], 1);
  });

  it('after kill -9 of the primary, a read and a transaction in flight run again on the new one; an autocommit write in flight is 504, never retried', async () => {
    const db = open({ acquireTimeoutMs: 8000, queryTimeoutMs: 10_000 });
    await warm(db, 3);
    const settled = <T>(work: Promise<T>) =>
      work.then(
        (value) => ({ value, error: undefined }),
        (error: unknown) => ({ value: undefined, error }),
      );
    const read = settled(db.execute<RowDataPacket[]>('SELECT SLEEP(1) AS slept, @@server_id AS id'));
    const write = settled(db.execute('INSERT INTO t (v) SELECT IF(SLEEP(1) = 0, ?, ?)', ['lost', 'lost']));
    let runs = 0;
    const inTransaction = settled(
      transaction(db, async (connection) => {
        runs++;
        await connection.execute('INSERT INTO t (v) VALUES (?)', ['cut-transaction']);
        await connection.query('SELECT SLEEP(1)');
      }),
    );
    await sleep(300);
    const dead = pair.primary();
    await dead.kill();
    endpoint.moveTo(undefined);
    const promoted = await pair.promote();
    endpoint.moveTo(promoted.port);
    const { value: answer, error } = await read;
    assert.equal(error, undefined, `the read in flight: ${String(error)}`);
    assert.equal(Number(answer?.[0]?.['id']), Number((await rows(promoted, 'SELECT @@server_id AS id'))[0]?.['id']));
    const failure = (await write).error;
    assert.ok(failure instanceof OutcomeUnknownError, `the write in flight: ${String(failure)}`);
    const transactionError = (await inTransaction).error;
    assert.equal(transactionError, undefined, `the transaction in flight: ${String(transactionError)}`);
    assert.equal(runs, 2);
    const committed = await rows(promoted, "SELECT COUNT(*) AS n FROM app.t WHERE v = 'cut-transaction'");
    assert.equal(Number(committed[0]?.['n']), 1, 'the transaction committed once, on the new primary');
    assert.deepEqual([...seen.retries].sort(), ['read_lost', 'transaction_lost'], 'the write was not retried');
    await pair.rejoin(dead);
  });
});

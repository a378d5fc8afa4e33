import assert from 'node:assert/strict';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { createSessionLookup } from '../../server/auth/session-lookup.js';
import { hashSessionToken } from '../../server/auth/session-token.js';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { DatabaseUnavailableError } from '../../server/db/db-errors.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';
import { waitUntil } from '../../harness/wait-until.js';

/*
 * Session lookups that arrive while their batch waits for a pool connection are answered together, by one statement,
 * each with its own answer (a user, or none for an unknown or expired token); one whose request is cancelled leaves
 * at once without failing the others.
 */

const connection = testConnection('app_test_session_lookup');

describe('session lookups, answered together under load', function () {
  this.timeout(30_000);
  let admin: Connection;
  let db: DbPool;
  let statements = 0;

  before(async () => {
    admin = await freshDatabase(connection);
    await admin.query(
      "INSERT INTO users (id, email, name, password_hash, created_at) VALUES (1, 'a@example.com', 'A', 'x', UTC_TIMESTAMP(3)), (2, 'b@example.com', 'B', 'x', UTC_TIMESTAMP(3))",
    );
    const session = (token: string, user: number, expires: string) =>
      admin.query(
        `INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ${expires})`,
        [hashSessionToken(token), user],
      );
    await session('token-a', 1, '1 DAY');
    await session('token-b', 2, '1 DAY');
    await session('expired', 1, '-1 SECOND');
    const pool = createDbPool(
      { connection, max: 1, maxIdle: 1, acquireTimeoutMs: 5000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
    // The real pool, counting the connections borrowed: one per statement the lookups send.
    db = {
      ...pool,
      withConnection: (fn, signal) => {
        statements++;
        return pool.withConnection(fn, signal);
      },
    };
  });
  after(async () => {
    await db.end();
    await admin.end();
  });

  /** Borrows the pool's one connection until `release` is called: lookups then wait for it together. */
  async function holdThePool(): Promise<{ release(): Promise<void> }> {
    let release: () => void = () => {};
    let held: () => void = () => {};
    const holding = new Promise<void>((resolve) => (held = resolve));
    const done = db.withConnection(async () => {
      held();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await holding;
    return {
      async release() {
        release();
        await done;
      },
    };
  }

  it('answers the lookups that waited for the pool with one statement, each its own user', async () => {
    const lookup = createSessionLookup(db, { maxBatch: 32, concurrency: 1 });
    const pool = await holdThePool();
    statements = 0;
    const tokens = ['token-a', 'token-b', 'unknown', 'expired', 'token-a', 'token-b'];
    const answers = Promise.all(tokens.map((token) => lookup.findUser(hashSessionToken(token))));
    await pool.release();
    const users = await answers;
    assert.deepEqual(
      users.map((user) => user?.email),
      ['a@example.com', 'b@example.com', undefined, undefined, 'a@example.com', 'b@example.com'],
    );
    assert.equal(statements, 1, 'one statement for the six lookups that waited together');
  });

  it('lets a cancelled lookup leave at once (503) while the others of its batch are answered', async () => {
    const lookup = createSessionLookup(db, { maxBatch: 32, concurrency: 1 });
    const pool = await holdThePool();
    const cancel = new AbortController();
    const cancelled = lookup.findUser(hashSessionToken('token-a'), cancel.signal);
    const kept = lookup.findUser(hashSessionToken('token-b'));
    cancel.abort(new DatabaseUnavailableError('request_deadline'));
    await assert.rejects(cancelled, (error: unknown) => error instanceof DatabaseUnavailableError);
    await pool.release();
    assert.equal((await kept)?.email, 'b@example.com');
  });

  it('starts another batch once one is full', async () => {
    const lookup = createSessionLookup(db, { maxBatch: 2, concurrency: 1 });
    const pool = await holdThePool();
    statements = 0;
    const answers = Promise.all(['token-a', 'token-b', 'token-a'].map((t) => lookup.findUser(hashSessionToken(t))));
    await pool.release();
    assert.deepEqual(
      (await answers).map((user) => user?.id),
      [1, 2, 1],
    );
    assert.equal(statements, 2);
  });

  it('answers the lookups of a batch whose connection was lost under it, when the pool runs the batch again', async () => {
    // DB_FOLLOW_PRIMARY's pool runs a read again once on a fresh connection when its connection was lost (retry-rule.ts).
    const following = createDbPool(
      { connection, max: 1, maxIdle: 1, acquireTimeoutMs: 5000, idleTimeoutMs: 60_000, followPrimary: true },
      { logger: silentLogger },
    );
    const lookup = createSessionLookup(following, { maxBatch: 32, concurrency: 1 });
    const locker = await mysql.createConnection(connection);
    try {
      // The batch's statement waits behind a table lock, so it is under way when its connection is killed.
      await locker.query('LOCK TABLES sessions WRITE, users WRITE');
      const deadline = AbortSignal.timeout(4000);
      const answers = Promise.all(
        ['token-a', 'token-b', 'unknown'].map((token) => lookup.findUser(hashSessionToken(token), deadline)),
      );
      let thread: number | undefined;
      await waitUntil(
        async () => {
          const [rows] = await admin.query<RowDataPacket[]>(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%JSON_TABLE%' AND ID <> CONNECTION_ID()",
          );
          thread = rows[0] ? Number(rows[0]['ID']) : undefined;
          return thread !== undefined;
        },
        { what: 'the batch waiting for the table lock', timeoutMs: 3000 },
      );
      await admin.query(`KILL CONNECTION ${thread}`);
      await locker.query('UNLOCK TABLES');
      assert.deepEqual(
        (await answers).map((user) => user?.email),
        ['a@example.com', 'b@example.com', undefined],
      );
    } finally {
      await locker.query('UNLOCK TABLES').catch(() => undefined);
      await locker.end();
      await following.end();
    }
  });
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createLoginThrottle } from '../../server/auth/login-throttle.js';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';

const connection = testConnection('app_test_throttle_locks');
const throttleKey = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest();

describe('login throttle under concurrency (real MariaDB)', function () {
  this.timeout(60_000);
  let admin: Connection;
  let db: DbPool;
  before(async () => {
    admin = await freshDatabase(connection);
    db = createDbPool(
      { connection, max: 8, maxIdle: 8, acquireTimeoutMs: 5000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
  });
  after(async () => {
    await db.end();
    await admin.end();
  });

  it('never deadlocks when one account and client reserve and succeed at the same time', async () => {
    const throttle = createLoginThrottle(db);
    const client = '192.0.2.1';
    // Both orders of the two keys, since a deadlock needs two statements locking the same two rows in opposite orders.
    const emails = ['account-first', 'pair-first'].map((wanted) => {
      for (let i = 0; ; i++) {
        const email = `locks-${i}@example.com`;
        const accountFirst =
          Buffer.compare(throttleKey('account', email), throttleKey('account+client', email, client)) < 0;
        if (accountFirst === (wanted === 'account-first')) return email;
      }
    });
    const failures: string[] = [];
    for (let round = 0; round < 150; round++) {
      for (const email of emails) {
        const outcomes = await Promise.allSettled([
          throttle.reserve(email, client),
          throttle.succeeded(email, client),
          throttle.reserve(email, client),
          throttle.blockedFor(email, client),
          throttle.succeeded(email, client),
        ]);
        for (const outcome of outcomes)
          if (outcome.status === 'rejected') failures.push(String((outcome.reason as Error).message));
      }
    }
    assert.deepEqual(failures, []);
  });

  describe('one statement tests and counts both keys', () => {
    const client = '198.51.100.40';
    const seed = async (key: Buffer, failures: number, blockedSeconds: number | null) =>
      admin.execute(
        `INSERT INTO login_throttle (throttle_key, failures, last_failure_at, blocked_until)
         VALUES (?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? SECOND)`,
        [key, failures, blockedSeconds],
      );
    const failuresOf = async (key: Buffer) => {
      const [rows] = await admin.execute<RowDataPacket[]>(
        'SELECT failures FROM login_throttle WHERE throttle_key = ?',
        [key],
      );
      return Number(rows[0]?.['failures']);
    };

    it('refuses an attempt while its client is blocked without counting it against the account', async () => {
      const email = 'pair-blocked@example.com';
      const pair = throttleKey('account+client', email, client);
      const account = throttleKey('account', email);
      await seed(pair, 7, 60);
      await seed(account, 40, null);
      const reservation = await createLoginThrottle(db).reserve(email, client);
      assert.ok(
        reservation.retryAfterSeconds > 55 && reservation.retryAfterSeconds <= 60,
        `${reservation.retryAfterSeconds}`,
      );
      assert.equal(await failuresOf(pair), 7);
      assert.equal(await failuresOf(account), 40);
    });

    it('answers the longer wait when both keys are blocked, whichever comes first', async () => {
      for (const [pairWait, accountWait] of [
        [20, 5],
        [5, 20],
      ] as const) {
        const email = `both-blocked-${pairWait}@example.com`;
        await seed(throttleKey('account+client', email, client), 9, pairWait);
        await seed(throttleKey('account', email), 120, accountWait);
        const reservation = await createLoginThrottle(db).reserve(email, client);
        assert.ok(
          reservation.retryAfterSeconds > 15 && reservation.retryAfterSeconds <= 20,
          `pair ${pairWait} s, account ${accountWait} s: ${reservation.retryAfterSeconds}`,
        );
      }
    });

    it('counts both keys and answers 0 when neither is blocked, whatever the connection returned before', async () => {
      const email = 'counted@example.com';
      // The same pooled connection last handed back a wait through LAST_INSERT_ID; it must not leak into this answer.
      await seed(throttleKey('account+client', email, 'blocked-before'), 9, 30);
      const single = createDbPool(
        { connection, max: 1, maxIdle: 1, acquireTimeoutMs: 5000, idleTimeoutMs: 60_000 },
        { logger: silentLogger },
      );
      try {
        const throttle = createLoginThrottle(single);
        assert.ok((await throttle.reserve(email, 'blocked-before')).retryAfterSeconds > 0);
        assert.equal((await throttle.reserve(email, client)).retryAfterSeconds, 0);
        assert.equal((await throttle.reserve(email, client)).retryAfterSeconds, 0);
      } finally {
        await single.end();
      }
      assert.equal(await failuresOf(throttleKey('account+client', email, client)), 2);
      assert.equal(await failuresOf(throttleKey('account', email)), 2);
    });
  });
});

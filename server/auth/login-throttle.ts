import { createHash } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import type { DbConnection, DbPool } from '../db/create-db-pool.js';

/*
 * Per-account protection against password guessing, stored in MySQL so it holds across workers and replicas.
 * Two counters of recent attempts:
 *
 * - account + client: the first `pairFreeFailures` (5) attempts in the window are free; from the 5th on, each
 *   one blocks that client from that account for 2^(n−5) s (1 s, 2 s, 4 s…), up to 15 min. This stops one guesser.
 * - account alone: the same from the `accountFreeFailures`th (100th) on, but never more than 30 s. This slows
 *   guessing spread over many clients, while an attacker who wants to lock a user out can only delay them by
 *   ≤ 30 s at a time, never lock them out for long.
 *
 * An attempt is counted *before* its password is checked, atomically with the test that neither counter is
 * blocked: concurrent guesses cannot all pass the test before any of them is counted, so concurrency buys no
 * extra guesses. A correct password then clears its account + client count and gives the account its attempt
 * back. Counts are forgotten `windowMs` (15 min) after the last attempt. A blocked attempt is refused (429)
 * before the password is checked, costs one indexed read (`blockedFor`), and is not counted. Unknown emails are
 * throttled exactly like known ones, so the throttle reveals nothing about which accounts exist.
 *
 * Every time is MySQL's UTC_TIMESTAMP, never this process's clock: replicas whose clocks disagree still agree on
 * when a block ends and when the window restarts. (UTC, not NOW(): the columns hold UTC, as mysql2 writes and reads
 * them with `timezone: 'Z'`, whatever the server's time zone.)
 */

export interface ThrottlePolicy {
  readonly windowMs: number;
  readonly pairFreeFailures: number;
  readonly pairMaxBlockSeconds: number;
  readonly accountFreeFailures: number;
  readonly accountMaxBlockSeconds: number;
}

export const defaultThrottlePolicy: ThrottlePolicy = Object.freeze({
  windowMs: 15 * 60_000,
  pairFreeFailures: 5,
  pairMaxBlockSeconds: 15 * 60,
  accountFreeFailures: 100,
  accountMaxBlockSeconds: 30,
});

export interface ThrottleReservation {
  /** Seconds the caller must wait before trying again (the attempt was not counted), or 0: counted, go ahead. */
  readonly retryAfterSeconds: number;
}

/** Each method takes the request's `signal` (request-deadline.ts): once it is aborted, nothing more is counted. */
export interface LoginThrottle {
  /** Seconds until this account + client may try again, or 0. One indexed read, no lock: the cheap refusal. */
  blockedFor(email: string, client: string, signal?: AbortSignal): Promise<number>;
  /** Counts the attempt against both allowances right before its password is checked, or refuses it uncounted. */
  reserve(email: string, client: string, signal?: AbortSignal): Promise<ThrottleReservation>;
  /** The password was right: clears the account + client count and gives the account its attempt back. */
  succeeded(email: string, client: string, signal?: AbortSignal): Promise<void>;
}

const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest();

// For each of the keys that is blocked, the seconds until its block ends, by MySQL's clock.
const blockedSql = `SELECT CEIL(TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), blocked_until) / 1000000) AS wait
  FROM login_throttle WHERE throttle_key IN (?, ?) AND blocked_until > UTC_TIMESTAMP(3)`;
/** Seconds until the later block ends; 0 when neither key is blocked. */
const waitOf = (rows: RowDataPacket[]) => Math.max(0, ...rows.map((row) => Number(row['wait'])));

export function createLoginThrottle(db: DbPool, policy: ThrottlePolicy = defaultThrottlePolicy): LoginThrottle {
  const keys = (email: string, client: string) => ({
    pair: digest('account+client', email, client),
    account: digest('account', email),
  });

  // Assignments run left to right and see the values already updated (MySQL and MariaDB both). The exponent is
  // capped where 2^n already exceeds the block's cap: uncapped, POW(2, n) leaves the range of a DOUBLE at n = 1024
  // (ER_DATA_OUT_OF_RANGE), which a patient attacker reaches in hours on the account-wide counter.
  const countSql = `UPDATE login_throttle SET
      failures = IF(last_failure_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND, 1, failures + 1),
      blocked_until = IF(failures >= ?, UTC_TIMESTAMP(3) + INTERVAL LEAST(POW(2, LEAST(failures - ?, ?)), ?) SECOND, NULL),
      last_failure_at = UTC_TIMESTAMP(3)
    WHERE throttle_key = ?`;
  const counters = (pair: Buffer, account: Buffer) =>
    [
      [pair, policy.pairFreeFailures, policy.pairMaxBlockSeconds],
      [account, policy.accountFreeFailures, policy.accountMaxBlockSeconds],
    ] as const;

  async function countAttempt(connection: DbConnection, pair: Buffer, account: Buffer): Promise<number> {
    // Creates missing rows and locks both, so concurrent attempts queue here one by one until the first commits. The
    // rows are locked in key order, the order in which `succeeded` (WHERE throttle_key IN …) locks them: two
    // statements taking the same two rows in opposite orders would deadlock.
    await connection.execute(
      `INSERT INTO login_throttle (throttle_key, failures, last_failure_at, blocked_until)
       VALUES (?, 0, UTC_TIMESTAMP(3), NULL), (?, 0, UTC_TIMESTAMP(3), NULL)
       ON DUPLICATE KEY UPDATE failures = failures`,
      [pair, account].sort(Buffer.compare),
    );
    const [rows] = await connection.execute<RowDataPacket[]>(`${blockedSql} FOR UPDATE`, [pair, account]);
    const wait = waitOf(rows);
    if (wait > 0) return wait;
    for (const [key, free, cap] of counters(pair, account)) {
      await connection.execute(countSql, [policy.windowMs * 1000, free, free, Math.ceil(Math.log2(cap)), cap, key]);
    }
    return 0;
  }

  return {
    async blockedFor(email, client, signal) {
      const { pair, account } = keys(email, client);
      return waitOf(await db.execute<RowDataPacket[]>(blockedSql, [pair, account], signal));
    },
    async reserve(email, client, signal) {
      const { pair, account } = keys(email, client);
      const retryAfterSeconds = await db.withConnection(async (connection) => {
        await connection.beginTransaction();
        try {
          const wait = await countAttempt(connection, pair, account);
          await connection.commit();
          return wait;
        } catch (error) {
          await connection.rollback().catch(() => undefined);
          throw error;
        }
      }, signal);
      return { retryAfterSeconds };
    },
    async succeeded(email, client, signal) {
      const { pair, account } = keys(email, client);
      await db.execute(
        `UPDATE login_throttle SET
           failures = IF(throttle_key = ?, 0, failures - 1),
           blocked_until = IF(throttle_key = ?, NULL, blocked_until)
         WHERE throttle_key IN (?, ?) AND failures > 0`,
        [pair, pair, pair, account],
        signal,
      );
    },
  };
}

import { createHash } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { DbPool } from '../db/create-db-pool.js';

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
 * An attempt is counted *before* its password is checked, in one statement, atomically with the test that its
 * counters are not blocked: concurrent guesses cannot all pass the test before any of them is counted, so
 * concurrency buys no extra guesses. A correct password then clears its account + client count and gives the
 * account its attempt back. Counts are forgotten `windowMs` (15 min) after the last attempt. A blocked attempt is
 * refused (429) before the password is checked, costs one indexed read (`blockedFor`, or the same subquery in the
 * login's lookup), and is not counted. Unknown emails are throttled exactly like known ones, so the throttle
 * reveals nothing about which accounts exist.
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

/** A scalar subquery and its parameters: the seconds until this account + client may try again, or 0. */
export interface BlockedWaitQuery {
  readonly sql: string;
  readonly params: readonly Buffer[];
}

/** Each method takes the request's `signal` (request-deadline.ts): once it is aborted, nothing more is counted. */
export interface LoginThrottle {
  /** Seconds until this account + client may try again, or 0. One indexed read, no lock: the cheap refusal. */
  blockedFor(email: string, client: string, signal?: AbortSignal): Promise<number>;
  /** The same read as a subquery, for a statement that reads something else alongside it (login-lookup.ts). */
  blockedWait(email: string, client: string): BlockedWaitQuery;
  /** Counts the attempt against both allowances right before its password is checked, or refuses it. One statement. */
  reserve(email: string, client: string, signal?: AbortSignal): Promise<ThrottleReservation>;
  /** The password was right: clears the account + client count and gives the account its attempt back. */
  succeeded(email: string, client: string, signal?: AbortSignal): Promise<void>;
}

const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest();

const waitSeconds = 'CEIL(TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), blocked_until) / 1000000)';
/** Seconds until the later block of the two keys ends, by MySQL's clock; 0 when neither is blocked. */
const blockedWaitSql = `(SELECT COALESCE(MAX(${waitSeconds}), 0) FROM login_throttle
  WHERE throttle_key IN (?, ?) AND blocked_until > UTC_TIMESTAMP(3))`;

export function createLoginThrottle(
  db: Pick<DbPool, 'execute'>,
  policy: ThrottlePolicy = defaultThrottlePolicy,
): LoginThrottle {
  const keys = (email: string, client: string) => ({
    pair: digest('account+client', email, client),
    account: digest('account', email),
  });
  const counters = [
    { free: policy.pairFreeFailures, cap: policy.pairMaxBlockSeconds },
    { free: policy.accountFreeFailures, cap: policy.accountMaxBlockSeconds },
  ].map(({ free, cap }) => {
    // The exponent is capped where 2^n already exceeds the block's cap: uncapped, POW(2, n) leaves the range of a
    // DOUBLE at n = 1024 (ER_DATA_OUT_OF_RANGE), which a patient attacker reaches in hours on the account-wide counter.
    const maxExponent = Math.ceil(Math.log2(cap));
    // A key's first attempt blocks the next one only when no attempt at all is free.
    const firstBlock = free <= 1 ? Math.min(2 ** Math.min(1 - free, maxExponent), cap) : null;
    return { free, cap, maxExponent, firstBlock };
  });
  type Counter = (typeof counters)[number];

  /*
   * One statement counts the attempt on both keys, or refuses it. Each row is tested and counted under its own lock,
   * so concurrent attempts on a key queue there and each sees the counts of those before it. The rows go account +
   * client first, then account, and the test travels between them in LAST_INSERT_ID: the first row's VALUES reset it
   * to 0; a row still blocked is left as it is and raises it to its wait (at least 1 s); the account row is counted only while it is
   * 0. An attempt refused on its client's block therefore never counts against the account (which would let one
   * client lock a user out); one that races a new account-wide block may count once more against its own client.
   * The server returns the final value in the statement's OK packet (insertId; the table has no AUTO_INCREMENT
   * column): 0 when counted, else the longer wait. `succeeded` takes the same two rows in the same order: two
   * statements taking them in opposite orders would deadlock.
   *
   * Assignments run left to right and see the values already updated (MySQL and MariaDB both): `failures` and
   * `last_failure_at` come first and test the old `blocked_until`, which is assigned last.
   */
  const refused = '(LAST_INSERT_ID() > 0 OR blocked_until > UTC_TIMESTAMP(3))';
  const countSql = `INSERT INTO login_throttle (throttle_key, failures, last_failure_at, blocked_until)
    VALUES (?, LAST_INSERT_ID(0) + 1, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? SECOND),
           (?, IF(LAST_INSERT_ID() > 0, 0, 1), UTC_TIMESTAMP(3),
            IF(LAST_INSERT_ID() > 0, NULL, UTC_TIMESTAMP(3) + INTERVAL ? SECOND))
    ON DUPLICATE KEY UPDATE
      failures = IF(${refused}, failures,
        IF(last_failure_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND, 1, failures + 1)),
      last_failure_at = IF(${refused}, last_failure_at, UTC_TIMESTAMP(3)),
      blocked_until = IF(blocked_until > UTC_TIMESTAMP(3),
        IF(LAST_INSERT_ID(GREATEST(LAST_INSERT_ID(), ${waitSeconds}, 1)) > 0, blocked_until, blocked_until),
        IF(LAST_INSERT_ID() > 0, blocked_until,
          IF(failures >= IF(throttle_key = ?, ?, ?),
            UTC_TIMESTAMP(3) + INTERVAL LEAST(
              POW(2, LEAST(failures - IF(throttle_key = ?, ?, ?), IF(throttle_key = ?, ?, ?))),
              IF(throttle_key = ?, ?, ?)) SECOND,
            NULL)))`;

  const blockedFor: LoginThrottle['blockedFor'] = async (email, client, signal) => {
    const { pair, account } = keys(email, client);
    const rows = await db.execute<RowDataPacket[]>(`SELECT ${blockedWaitSql} AS wait`, [pair, account], signal);
    return Number(rows[0]?.['wait'] ?? 0);
  };

  return {
    blockedFor,
    blockedWait(email, client) {
      const { pair, account } = keys(email, client);
      return { sql: blockedWaitSql, params: [pair, account] };
    },
    async reserve(email, client, signal) {
      const { pair, account } = keys(email, client);
      const [pairCounter, accountCounter] = counters as [Counter, Counter];
      const perKey = (pick: (counter: Counter) => number) => [pair, pick(pairCounter), pick(accountCounter)];
      const result = await db.execute<ResultSetHeader>(
        countSql,
        [
          pair,
          pairCounter.firstBlock,
          account,
          accountCounter.firstBlock,
          policy.windowMs * 1000,
          ...perKey((counter) => counter.free),
          ...perKey((counter) => counter.free),
          ...perKey((counter) => counter.maxExponent),
          ...perKey((counter) => counter.cap),
        ],
        signal,
      );
      return { retryAfterSeconds: Number(result.insertId) };
    },
    async succeeded(email, client, signal) {
      const { pair, account } = keys(email, client);
      // An INSERT, not an UPDATE … WHERE throttle_key IN, only to lock the rows in the order `reserve` does.
      await db.execute(
        `INSERT INTO login_throttle (throttle_key, failures, last_failure_at, blocked_until)
         VALUES (?, 0, UTC_TIMESTAMP(3), NULL), (?, 0, UTC_TIMESTAMP(3), NULL)
         ON DUPLICATE KEY UPDATE
           failures = IF(throttle_key = ?, 0, IF(failures > 0, failures - 1, 0)),
           blocked_until = IF(throttle_key = ?, NULL, blocked_until)`,
        [pair, account, pair, pair],
        signal,
      );
    },
  };
}

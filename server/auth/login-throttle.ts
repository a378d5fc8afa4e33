import { createHash } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import type { DbPool } from '../db/create-db-pool.js';

/*
 * Per-account protection against password guessing (issue 6), stored in MySQL so it holds across workers
 * and replicas. Two counters of recent failures:
 *
 * - account + client: the first `pairFreeFailures` (5) failures in the window are free; each further one
 *   blocks that client from that account for 2^(n−5) s, up to 15 min. This is what stops one guesser.
 * - account alone: the first `accountFreeFailures` (100) are free; each further one blocks the account for
 *   2^(n−100) s but never more than 30 s. This slows guessing spread over many clients, while an attacker
 *   who wants to lock a user out can only delay them by ≤ 30 s at a time, never lock them out for long.
 *
 * Failures are forgotten `windowMs` (15 min) after the last one; a successful login clears its
 * account + client counter. A blocked attempt is refused (429) before the password is even checked, so
 * it costs the server one indexed read, and it does not count as a failure. Unknown emails are throttled
 * exactly like known ones, so the throttle reveals nothing about which accounts exist.
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

export interface ThrottleCheck {
  /** Seconds the caller must wait before trying again, or 0 when the attempt may go ahead. */
  readonly retryAfterSeconds: number;
  /** Whether this account + client has recent failures (only then does a success need to clear them). */
  readonly hasFailures: boolean;
}

export interface LoginThrottle {
  check(email: string, client: string): Promise<ThrottleCheck>;
  recordFailure(email: string, client: string): Promise<void>;
  /** Clears the account + client count; call it only when `check` reported failures. */
  recordSuccess(email: string, client: string): Promise<void>;
}

const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest();

export function createLoginThrottle(db: DbPool, policy: ThrottlePolicy = defaultThrottlePolicy, now: () => Date = () => new Date()): LoginThrottle {
  const keys = (email: string, client: string) => ({ pair: digest('account+client', email, client), account: digest('account', email) });

  // Assignments run left to right and see the values already updated (MySQL and MariaDB both). The exponent is
  // capped where 2^n already exceeds the block's cap: uncapped, POW(2, n) leaves the range of a DOUBLE at n = 1024
  // (ER_DATA_OUT_OF_RANGE), which a patient attacker reaches in hours on the account-wide counter.
  const failureSql = `INSERT INTO login_throttle (throttle_key, failures, last_failure_at, blocked_until) VALUES (?, 1, ?, NULL)
    ON DUPLICATE KEY UPDATE
      failures = IF(last_failure_at < ?, 1, failures + 1),
      blocked_until = IF(failures > ?, DATE_ADD(?, INTERVAL LEAST(POW(2, LEAST(failures - ? - 1, ?)), ?) SECOND), NULL),
      last_failure_at = ?`;

  return {
    async check(email, client) {
      const { pair, account } = keys(email, client);
      const at = now().getTime();
      const rows = await db.execute<RowDataPacket[]>('SELECT throttle_key, blocked_until FROM login_throttle WHERE throttle_key IN (?, ?)', [pair, account]);
      let until = 0;
      for (const row of rows) until = Math.max(until, (row['blocked_until'] as Date | null)?.getTime() ?? 0);
      return {
        retryAfterSeconds: until > at ? Math.max(1, Math.ceil((until - at) / 1000)) : 0,
        hasFailures: rows.some((row) => pair.equals(row['throttle_key'] as Buffer)),
      };
    },
    async recordFailure(email, client) {
      const { pair, account } = keys(email, client);
      const at = now();
      const windowStart = new Date(at.getTime() - policy.windowMs);
      for (const [key, free, cap] of [
        [pair, policy.pairFreeFailures, policy.pairMaxBlockSeconds],
        [account, policy.accountFreeFailures, policy.accountMaxBlockSeconds],
      ] as const) {
        await db.execute(failureSql, [key, at, windowStart, free, at, free, Math.ceil(Math.log2(cap)), cap, at]);
      }
    },
    async recordSuccess(email, client) {
      await db.execute('DELETE FROM login_throttle WHERE throttle_key = ?', [keys(email, client).pair]);
    },
  };
}

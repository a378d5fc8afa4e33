import type { RowDataPacket } from 'mysql2/promise';
import type { DbPool } from '../db/create-db-pool.js';
import type { LoginThrottle } from './login-throttle.js';
import { userWithPasswordFromRow, type UserWithPassword } from './user-store.js';

export interface LoginCandidate {
  /** Undefined for an unknown email. */
  readonly user: UserWithPassword | undefined;
  /** Seconds until this account + client may try again, or 0 (the throttle's cheap refusal). */
  readonly blockedFor: number;
  /** When it was read, by MySQL's clock: a session it leads to starts then. */
  readonly checkedAt: Date;
}

export interface LoginLookup {
  find(email: string, client: string, signal?: AbortSignal): Promise<LoginCandidate>;
}

/**
 * What a login needs to know before it waits for a hashing slot, in one indexed read: the account (its password
 * hash), whether the throttle blocks this client from it, and MySQL's time. The one-row derived table keeps the wait when the email
 * is unknown, which the throttle treats exactly like a known one.
 */
export function createLoginLookup(db: Pick<DbPool, 'execute'>, throttle: LoginThrottle): LoginLookup {
  return {
    async find(email, client, signal) {
      const blocked = throttle.blockedWait(email, client);
      const rows = await db.execute<RowDataPacket[]>(
        `SELECT UTC_TIMESTAMP(3) AS checked_at, ${blocked.sql} AS wait, u.id, u.email, u.name, u.password_hash, u.created_at
           FROM (SELECT 1 AS attempt) AS attempt LEFT JOIN users AS u ON u.email = ?`,
        [...blocked.params, email],
        signal,
      );
      const row = rows[0];
      return {
        user: row?.['id'] == null ? undefined : userWithPasswordFromRow(row),
        blockedFor: Number(row?.['wait'] ?? 0),
        checkedAt: row?.['checked_at'] as Date,
      };
    },
  };
}

import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { DbPool } from '../db/create-db-pool.js';
import { transaction } from '../db/transaction.js';
import type { WriteOptions } from '../db/write-options.js';
import { hashSessionToken, newSessionToken } from './session-token.js';
import { createSessionLookup } from './session-lookup.js';
import { userFromRow, type User } from './user-store.js';

export interface NewSession {
  readonly token: string;
  readonly expiresAt: Date;
}

export interface SessionStore {
  /** A session from `startsAt`, an instant read from MySQL's clock (the login's lookup), for the configured TTL. */
  create(userId: number, startsAt: Date, options?: WriteOptions<NewSession>): Promise<NewSession>;
  /** The user a live session belongs to, or undefined for an unknown, revoked or expired token. */
  findUser(token: string, signal?: AbortSignal): Promise<User | undefined>;
  /** Revokes the session; true when one existed. */
  revoke(token: string, signal?: AbortSignal): Promise<boolean>;
}

/*
 * Expiry goes by MySQL's clock (UTC_TIMESTAMP), never this process's: replicas whose clocks disagree still agree on
 * when a session ends. A session starts at an instant the caller read from that clock, so the one INSERT stores what
 * the answer says, to the millisecond (DATETIME(3)). UTC, not NOW(): the columns hold UTC, as mysql2 writes and reads
 * them with `timezone: 'Z'`, whatever the server's time zone.
 */
const insertSession = 'INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)';

// Lookups answered by one statement at most: a JSON array of this many hashes is a few kilobytes.
const maxLookupBatch = 32;

export function createSessionStore(
  db: DbPool,
  options: {
    readonly ttlSeconds: number;
    /** Lookup statements at once (SESSION_LOOKUP_CONCURRENCY); 0: each lookup its own statement. */
    readonly lookupConcurrency?: number;
  },
): SessionStore {
  const concurrency = options.lookupConcurrency ?? 4;
  const lookup = concurrency > 0 ? createSessionLookup(db, { maxBatch: maxLookupBatch, concurrency }) : undefined;
  return {
    async create(userId, startsAt, { signal, alsoInTransaction } = {}) {
      const token = newSessionToken();
      const session: NewSession = { token, expiresAt: new Date(startsAt.getTime() + options.ttlSeconds * 1000) };
      const insert = [hashSessionToken(token), userId, startsAt, session.expiresAt];
      if (!alsoInTransaction) {
        await db.execute(insertSession, insert, signal);
        return session;
      }
      return transaction(
        db,
        async (connection) => {
          await connection.execute(insertSession, insert);
          await alsoInTransaction(connection, session);
          return session;
        },
        signal,
      );
    },
    async findUser(token, signal) {
      if (lookup) return lookup.findUser(hashSessionToken(token), signal);
      const rows = await db.execute<RowDataPacket[]>(
        `SELECT u.id, u.email, u.name, u.created_at
           FROM sessions s JOIN users u ON u.id = s.user_id
          WHERE s.token_hash = ? AND s.expires_at > UTC_TIMESTAMP(3)`,
        [hashSessionToken(token)],
        signal,
      );
      return rows[0] ? userFromRow(rows[0]) : undefined;
    },
    async revoke(token, signal) {
      const result = await db.execute<ResultSetHeader>(
        'DELETE FROM sessions WHERE token_hash = ?',
        [hashSessionToken(token)],
        signal,
      );
      return result.affectedRows > 0;
    },
  };
}

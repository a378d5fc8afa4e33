import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { DbPool } from '../db/create-db-pool.js';
import { hashSessionToken, newSessionToken } from './session-token.js';
import { userFromRow, type User } from './user-store.js';

export interface NewSession {
  readonly token: string;
  readonly expiresAt: Date;
}

export interface SessionStore {
  create(userId: number): Promise<NewSession>;
  /** The user a live session belongs to, or undefined for an unknown, revoked or expired token. */
  findUser(token: string): Promise<User | undefined>;
  /** Revokes the session; true when one existed. */
  revoke(token: string): Promise<boolean>;
}

export function createSessionStore(db: DbPool, options: { readonly ttlSeconds: number; readonly now?: () => Date }): SessionStore {
  const now = options.now ?? (() => new Date());
  return {
    async create(userId) {
      const token = newSessionToken();
      const createdAt = now();
      const expiresAt = new Date(createdAt.getTime() + options.ttlSeconds * 1000);
      await db.execute('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)', [
        hashSessionToken(token),
        userId,
        createdAt,
        expiresAt,
      ]);
      return { token, expiresAt };
    },
    async findUser(token) {
      const rows = await db.execute<RowDataPacket[]>(
        `SELECT u.id, u.email, u.name, u.created_at
           FROM sessions s JOIN users u ON u.id = s.user_id
          WHERE s.token_hash = ? AND s.expires_at > ?`,
        [hashSessionToken(token), now()],
      );
      return rows[0] ? userFromRow(rows[0]) : undefined;
    },
    async revoke(token) {
      const result = await db.execute<ResultSetHeader>('DELETE FROM sessions WHERE token_hash = ?', [hashSessionToken(token)]);
      return result.affectedRows > 0;
    },
  };
}

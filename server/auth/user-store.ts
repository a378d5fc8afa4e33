import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { errorCode } from '../db/db-errors.js';
import type { DbPool } from '../db/create-db-pool.js';
import { transaction } from '../db/transaction.js';
import type { WriteOptions } from '../db/write-options.js';

export interface User {
  readonly id: number;
  readonly email: string;
  readonly name: string;
  readonly createdAt: Date;
}

export interface UserWithPassword extends User {
  readonly passwordHash: string;
}

export class EmailTakenError extends Error {
  override readonly name = 'EmailTakenError';
}

export interface UserStore {
  /** `email` must already be normalised (trimmed, lower-case). Throws EmailTakenError on a duplicate. */
  create(input: { email: string; name: string; passwordHash: string }, options?: WriteOptions<User>): Promise<User>;
  updatePasswordHash(id: number, passwordHash: string, signal?: AbortSignal): Promise<void>;
}

/** A `users` row (id, email, name, created_at) as a User; the session lookup reads the same columns. */
export function userFromRow(row: RowDataPacket): User {
  return {
    id: Number(row['id']),
    email: String(row['email']),
    name: String(row['name']),
    createdAt: row['created_at'] as Date,
  };
}

/** A `users` row with its password_hash (login-lookup.ts). */
export function userWithPasswordFromRow(row: RowDataPacket): UserWithPassword {
  return { ...userFromRow(row), passwordHash: String(row['password_hash']) };
}

export function publicUser(user: User): User {
  return { id: user.id, email: user.email, name: user.name, createdAt: user.createdAt };
}

const insertUser = 'INSERT INTO users (email, name, password_hash, created_at) VALUES (?, ?, ?, ?)';

export function createUserStore(db: DbPool): UserStore {
  return {
    async create({ email, name, passwordHash }, { signal, alsoInTransaction } = {}) {
      // Millisecond precision, the same value MySQL stores in DATETIME(3).
      const createdAt = new Date();
      const params = [email, name, passwordHash, createdAt];
      const created = (result: ResultSetHeader): User => ({ id: result.insertId, email, name, createdAt });
      try {
        if (!alsoInTransaction) return created(await db.execute<ResultSetHeader>(insertUser, params, signal));
        return await transaction(
          db,
          async (connection) => {
            const [result] = await connection.execute<ResultSetHeader>(insertUser, params);
            const user = created(result);
            await alsoInTransaction(connection, user);
            return user;
          },
          signal,
        );
      } catch (error) {
        // The unique index settles concurrent registrations of one email: exactly one insert wins.
        if (errorCode(error) === 'ER_DUP_ENTRY') throw new EmailTakenError('email already registered');
        throw error;
      }
    },
    async updatePasswordHash(id, passwordHash, signal) {
      await db.execute('UPDATE users SET password_hash = ? WHERE id = ?', [passwordHash, id], signal);
    },
  };
}

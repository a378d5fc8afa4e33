import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { DbConnection, DbPool } from '../db/create-db-pool.js';
import { DatabaseUnavailableError, errorCode } from '../db/db-errors.js';

/** An outcome as stored: the status, and the body sealed under the client's key (key-material.ts). */
export interface SealedOutcome {
  readonly status: number;
  readonly sealed: Buffer;
}

/** What became of a request's attempt to take its key. */
export type Claim =
  /** The key is this request's: run the operation, then complete (or release) with `owner`. */
  | { readonly kind: 'claimed'; readonly owner: Buffer }
  /** A request with the key and the same body finished: answer what it answered. */
  | ({ readonly kind: 'replay' } & SealedOutcome)
  /** The key was used with another body. */
  | { readonly kind: 'mismatch' }
  /** A request with the key and the same body is still running; it is sure to be done within `retryAfterSeconds`. */
  | { readonly kind: 'in_progress'; readonly retryAfterSeconds: number };

export interface IdempotencyStore {
  claim(keyHash: Buffer, fingerprint: Buffer, signal?: AbortSignal): Promise<Claim>;
  /**
   * Stores the outcome on `connection`, inside the transaction of the operation's own write, so the two commit
   * together or not at all: a retry after an unknown outcome then finds the true one. Throws (rolling that transaction
   * back) when the claim is no longer this request's.
   */
  complete(connection: DbConnection, keyHash: Buffer, owner: Buffer, outcome: SealedOutcome): Promise<void>;
  /** Stores an outcome that wrote nothing (a refusal), in a statement of its own. */
  record(keyHash: Buffer, owner: Buffer, outcome: SealedOutcome, signal?: AbortSignal): Promise<void>;
  /** Gives the key up when the request ended with nothing written, so a retry need not wait out the claim. */
  release(keyHash: Buffer, owner: Buffer, signal?: AbortSignal): Promise<void>;
}

export interface IdempotencyStoreOptions {
  /**
   * How long a claim holds off other requests with the key: at least the longest a request can run (its deadline).
   * After it another request may take the key over. Not what keeps an outcome from being written twice: that is the
   * row lock the owner's transaction holds until it commits or is rolled back, which a takeover waits for.
   */
  readonly leaseMs: number;
  /** How long a key is remembered (24 h by default). */
  readonly ttlSeconds?: number;
}

const defaultTtlSeconds = 24 * 60 * 60;
// Rounds of "taken → read → take over" before a key that keeps changing under us is called in progress.
const claimRounds = 3;

const insertSql = `INSERT INTO idempotency_keys (key_hash, fingerprint, owner, status, response, claimed_until, expires_at)
  VALUES (?, ?, ?, NULL, NULL, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(3) + INTERVAL ? SECOND)`;
const readSql = `SELECT fingerprint, owner, status, response,
    expires_at <= UTC_TIMESTAMP(3) AS expired,
    claimed_until > UTC_TIMESTAMP(3) AS live,
    CEIL(TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), claimed_until) / 1000000) AS wait
  FROM idempotency_keys WHERE key_hash = ?`;
// An expired key is forgotten: whoever comes next starts afresh with it.
const renewSql = `UPDATE idempotency_keys SET fingerprint = ?, owner = ?, status = NULL, response = NULL,
    claimed_until = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, expires_at = UTC_TIMESTAMP(3) + INTERVAL ? SECOND
  WHERE key_hash = ? AND expires_at <= UTC_TIMESTAMP(3)`;
// A claim whose request ended without an outcome (its deadline passed, its worker died) is taken over once it lapsed.
const takeOverSql = `UPDATE idempotency_keys SET owner = ?, claimed_until = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
  WHERE key_hash = ? AND owner = ? AND status IS NULL AND claimed_until <= UTC_TIMESTAMP(3)`;
const completeSql = `UPDATE idempotency_keys SET status = ?, response = ?
  WHERE key_hash = ? AND owner = ? AND status IS NULL`;
const releaseSql = 'DELETE FROM idempotency_keys WHERE key_hash = ? AND owner = ? AND status IS NULL';

/**
 * Idempotency keys in MySQL, shared by every worker and replica. Every time is MySQL's clock. Expired rows are deleted
 * by purgeExpired; until then a lookup treats them as absent.
 */
export function createIdempotencyStore(db: DbPool, options: IdempotencyStoreOptions): IdempotencyStore {
  const leaseMicros = options.leaseMs * 1000;
  const ttlSeconds = options.ttlSeconds ?? defaultTtlSeconds;

  async function insert(keyHash: Buffer, fingerprint: Buffer, owner: Buffer, signal?: AbortSignal) {
    try {
      await db.execute(insertSql, [keyHash, fingerprint, owner, leaseMicros, ttlSeconds], signal);
      return true;
    } catch (error) {
      if (errorCode(error) === 'ER_DUP_ENTRY') return false;
      throw error;
    }
  }

  const changed = async (sql: string, params: unknown[], signal?: AbortSignal) =>
    (await db.execute<ResultSetHeader>(sql, params, signal)).affectedRows === 1;

  return {
    async claim(keyHash, fingerprint, signal) {
      const owner = randomBytes(16);
      for (let round = 0; round < claimRounds; round++) {
        if (await insert(keyHash, fingerprint, owner, signal)) return { kind: 'claimed', owner };
        const [row] = await db.execute<RowDataPacket[]>(readSql, [keyHash], signal);
        // Released or purged since the insert failed: try again.
        if (!row) continue;
        if (Number(row['expired']) === 1) {
          const params = [fingerprint, owner, leaseMicros, ttlSeconds, keyHash];
          if (await changed(renewSql, params, signal)) return { kind: 'claimed', owner };
          continue;
        }
        if (!timingSafeEqual(row['fingerprint'] as Buffer, fingerprint)) return { kind: 'mismatch' };
        if (row['status'] !== null) {
          return { kind: 'replay', status: Number(row['status']), sealed: row['response'] as Buffer };
        }
        if (Number(row['live']) === 1)
          return { kind: 'in_progress', retryAfterSeconds: Math.max(1, Number(row['wait'])) };
        const params = [owner, leaseMicros, keyHash, row['owner']];
        if (await changed(takeOverSql, params, signal)) return { kind: 'claimed', owner };
      }
      // Someone else keeps changing the key's row right now: as good as in progress.
      return { kind: 'in_progress', retryAfterSeconds: 1 };
    },
    async complete(connection, keyHash, owner, { status, sealed }) {
      const [result] = await connection.execute<ResultSetHeader>(completeSql, [status, sealed, keyHash, owner]);
      // Only when the claim lapsed and another request took the key over: it answers for the key, this one wrote nothing.
      if (result.affectedRows !== 1) throw new DatabaseUnavailableError('idempotency_claim_lost');
    },
    async record(keyHash, owner, { status, sealed }, signal) {
      await db.execute(completeSql, [status, sealed, keyHash, owner], signal);
    },
    async release(keyHash, owner, signal) {
      await db.execute(releaseSql, [keyHash, owner], signal);
    },
  };
}

import type { RowDataPacket } from 'mysql2/promise';
import type { DbPool } from '../db/create-db-pool.js';
import { abortCode, DatabaseUnavailableError } from '../db/db-errors.js';
import { userFromRow, type User } from './user-store.js';

/*
 * Every authenticated request looks its session up. At most `concurrency` lookup statements run at once; the lookups
 * that arrive meanwhile wait, and the next statement answers all of them (DataLoader's batching): under load a
 * statement serves many requests per round trip instead of one, so a busy worker spends less on mysql2 and MySQL per
 * request. A lookup that finds fewer statements running goes at once.
 *
 * Each request keeps its own answer and its own deadline: one whose signal aborts leaves at once (a 503, as the pool
 * gives); the statement is bounded by the pool's deadlines like any other. One statement shape for every batch size
 * (the tokens' hashes as a JSON array), so one prepared statement, and a plan fixed by hand: each hash finds its
 * session and its user by their primary keys.
 */

export interface SessionLookup {
  findUser(tokenHash: Buffer, signal?: AbortSignal): Promise<User | undefined>;
}

const lookupSql = `SELECT t.n, u.id, u.email, u.name, u.created_at
  FROM JSON_TABLE(?, '$[*]' COLUMNS (n FOR ORDINALITY, h CHAR(64) PATH '$')) t
  STRAIGHT_JOIN sessions s FORCE INDEX (PRIMARY) ON s.token_hash = UNHEX(t.h)
  STRAIGHT_JOIN users u FORCE INDEX (PRIMARY) ON u.id = s.user_id
  WHERE s.expires_at > UTC_TIMESTAMP(3)`;

interface Waiting {
  readonly hash: string;
  done: boolean;
  resolve(user: User | undefined): void;
  reject(error: unknown): void;
}

export function createSessionLookup(
  db: DbPool,
  options: {
    /** Lookups one statement answers at most. */
    readonly maxBatch: number;
    /** Lookup statements under way at once (waiting for a connection included); the next lookups wait and join. */
    readonly concurrency: number;
  },
): SessionLookup {
  // Lookups not yet in a statement: the next statement to get a connection takes them.
  let queue: Waiting[] = [];
  let running = 0;

  async function run(): Promise<void> {
    running++;
    let batch: Waiting[] | undefined;
    try {
      const rows = await db.withConnection(async (connection) => {
        // Taken once it has a connection: everything that arrived while it waited goes in this statement. When the
        // pool runs this again (its connection was lost under the read: retry-rule.ts), the batch is the same one.
        if (!batch) {
          batch = queue.filter((waiting) => !waiting.done).slice(0, options.maxBatch);
          queue = queue.filter((waiting) => !waiting.done).slice(batch.length);
        }
        if (batch.length === 0) return [];
        const [found] = await connection.execute<RowDataPacket[]>(lookupSql, [
          JSON.stringify(batch.map((waiting) => waiting.hash)),
        ]);
        const taken = batch;
        return found.map((row) => ({ waiting: taken[Number(row['n']) - 1], user: userFromRow(row) }));
      });
      for (const { waiting, user } of rows) waiting?.resolve(user);
      for (const waiting of batch ?? []) waiting.resolve(undefined);
    } catch (error) {
      // The connection never came (its acquire deadline): those waiting now fail as they would have on their own.
      if (!batch || batch.length === 0) {
        batch = queue;
        queue = [];
      }
      for (const waiting of batch) waiting.reject(error);
    } finally {
      running--;
      if (queue.some((waiting) => !waiting.done) && running < options.concurrency) void run();
    }
  }

  return {
    findUser(tokenHash, signal) {
      if (signal?.aborted) return Promise.reject(new DatabaseUnavailableError(abortCode(signal)));
      return new Promise<User | undefined>((resolve, reject) => {
        const onAbort = () => waiting.reject(new DatabaseUnavailableError(abortCode(signal!)));
        const settle =
          <T>(fn: (value: T) => void) =>
          (value: T) => {
            if (waiting.done) return;
            waiting.done = true;
            signal?.removeEventListener('abort', onAbort);
            fn(value);
          };
        const waiting: Waiting = {
          hash: tokenHash.toString('hex'),
          done: false,
          resolve: settle(resolve),
          reject: settle(reject),
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        queue.push(waiting);
        // Below the limit a statement starts at once (it takes whatever waits when it gets its connection); at the
        // limit the lookup waits for the next one, which is what turns a burst into a few statements.
        if (running < options.concurrency) void run();
      });
    },
  };
}

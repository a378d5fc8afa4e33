import mysql from 'mysql2/promise';
import type { Logger } from 'pino';
import type { DbConnectionOptions } from '../config/config.js';
import { withDeadline } from '../deadline/with-deadline.js';
import { errorCode } from './db-errors.js';
import { readServerIdentity } from './server-identity.js';

/*
 * Ends the server-side thread of a connection we abandoned. Destroying our socket is not enough: on a path that
 * died silently, or a server that stalled, MySQL never sees it close, and the statement runs on (holding its locks
 * and one of max_connections) until it finishes or wait_timeout, hours later. A `KILL <thread id>` from a fresh
 * connection ends it at once; a user may kill its own threads without any extra privilege.
 *
 * Kills are batched onto one short-lived connection at a time per worker, so a burst of timeouts costs one
 * connection, not one each: that connection comes out of DB_RESERVED_CONNECTIONS (docs/replicas.md, "Every connection, and who pays for it").
 *
 * A thread id means something only on its own server. DATABASE_URL may reach another server than the one an abandoned
 * connection was opened on (a failover moved the endpoint), where the same id may be a stranger's connection: a kill
 * that names its server (`@@server_id`) is sent only when the killing connection reached that server (docs/failover.md).
 */

export interface ThreadKillerOptions {
  readonly connection: DbConnectionOptions;
  /** Connect plus every KILL of a batch; past it the batch is given up (the server is likely stalled). */
  readonly timeoutMs: number;
}

export interface ThreadKiller {
  /**
   * Resolves true once the thread is gone (killed, or already ended), false if it could not be reached in time, or
   * `serverId` is given and DATABASE_URL no longer reaches that server.
   */
  kill(threadId: number, serverId?: number): Promise<boolean>;
}

interface Kill {
  readonly threadId: number;
  readonly serverId: number | undefined;
  readonly done: (killed: boolean) => void;
}

// ER_NO_SUCH_THREAD: the thread had already ended, which is what we wanted.
const noSuchThread = 1094;

export function createThreadKiller(options: ThreadKillerOptions, deps: { readonly logger: Logger }): ThreadKiller {
  let queue: Kill[] = [];
  let running = false;

  async function killBatch(batch: readonly Kill[]): Promise<Map<Kill, boolean>> {
    const outcome = new Map(batch.map((entry) => [entry, false]));
    try {
      await withDeadline(
        options.timeoutMs,
        async (signal) => {
          const connection = await mysql.createConnection({ ...options.connection, connectTimeout: options.timeoutMs });
          // Given up meanwhile (a stalled server): nothing is killed from a connection that came too late.
          if (signal.aborted) return connection;
          try {
            const reached = batch.some((entry) => entry.serverId !== undefined)
              ? (await readServerIdentity(connection)).serverId
              : undefined;
            for (const entry of batch) {
              if (signal.aborted) break;
              if (entry.serverId !== undefined && entry.serverId !== reached) {
                deps.logger.warn(
                  { threadId: entry.threadId, serverId: entry.serverId, reached },
                  'not killing the thread of an abandoned connection: DATABASE_URL now reaches another server',
                );
                continue;
              }
              try {
                await connection.query('KILL ?', [entry.threadId]);
              } catch (error) {
                if ((error as { errno?: unknown }).errno !== noSuchThread) throw error;
              }
              outcome.set(entry, true);
            }
            // A clean COM_QUIT, so the server does not count an aborted client.
            await connection.end();
          } catch (error) {
            connection.destroy();
            throw error;
          }
          return connection;
        },
        // A connect or a KILL that outlives the deadline: its connection is closed as soon as it exists.
        { what: 'killing abandoned threads', late: (connection) => connection.destroy() },
      );
    } catch (error) {
      deps.logger.warn(
        { code: errorCode(error), threadIds: batch.map((entry) => entry.threadId) },
        'could not kill the server threads of abandoned connections',
      );
    }
    return outcome;
  }

  async function drain(): Promise<void> {
    running = true;
    try {
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        const outcome = await killBatch(batch);
        for (const entry of batch) entry.done(outcome.get(entry) ?? false);
      }
    } finally {
      running = false;
    }
  }

  return {
    kill(threadId, serverId) {
      return new Promise<boolean>((done) => {
        queue.push({ threadId, serverId, done });
        if (!running) void drain();
      });
    },
  };
}

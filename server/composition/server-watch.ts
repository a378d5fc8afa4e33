import type { RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { StatusSource } from '../metrics/mysql-status-metrics.js';
import type { ServerLimits } from '../budget/server-limits.js';
import { limitsFrom, limitsSql } from '../db/admin-connection.js';
import { errorCode } from '../db/db-errors.js';
import { identityFrom, identitySql } from '../db/server-identity.js';

/*
 * The primary's view of which server takes writes (docs/failover.md). Every `intervalMs`, on the primary's one
 * connection (the status connection, or the coordination connection with APP_REPLICAS=auto), it asks the server's
 * @@server_id and whether it is read-only:
 *
 * - read-only: the connection is let go, so the next look goes through DATABASE_URL again, which a switchover moves
 *   to the new primary (the status read on /metrics then describes the server the workers write to, not the old one);
 * - another writable server than the last one: a failover. It is counted (db_failovers_seen_total), and the new
 *   primary's limits are read for the fixed budget (follow-fixed-budget.ts), again at the next look if that read fails.
 *
 * The workers' pools do not wait for this: each follows the primary by itself (writable-server.ts).
 */

export interface ServerWatchDeps {
  readonly source: Pick<StatusSource, 'query' | 'reconnect'>;
  readonly logger: Logger;
  /** Another server takes writes than the one before. */
  readonly failoverSeen: () => void;
  /** After a failover, the new primary's limits (DB_FOLLOW_PRIMARY with a fixed APP_REPLICAS). */
  readonly onNewPrimary?: ((limits: ServerLimits) => void) | undefined;
}

export interface ServerWatch {
  stop(): void;
}

export function startServerWatch(
  options: {
    readonly intervalMs: number;
    readonly timeoutMs: number;
    /** The server the budget was computed on (prepare-database.ts): the first one that takes writes. */
    readonly serverId: number;
  },
  deps: ServerWatchDeps,
): ServerWatch {
  const { source, logger } = deps;
  let writable = options.serverId;
  let readOnly: number | undefined;
  let limitsDue = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function look(): Promise<void> {
    const [row] = await source.query<RowDataPacket[]>(identitySql, options.timeoutMs);
    const { serverId, readOnly: refusesWrites } = identityFrom(row);
    if (refusesWrites) {
      if (readOnly !== serverId)
        logger.warn({ serverId }, 'the server behind DATABASE_URL refuses writes (read_only); looking for the primary');
      readOnly = serverId;
      source.reconnect();
      return;
    }
    readOnly = undefined;
    if (serverId !== writable) {
      logger.warn({ from: writable, to: serverId }, 'failover: another server takes writes');
      deps.failoverSeen();
      limitsDue = true;
      writable = serverId;
    }
    if (limitsDue && deps.onNewPrimary) {
      const [limits] = await source.query<RowDataPacket[]>(limitsSql, options.timeoutMs);
      limitsDue = false;
      deps.onNewPrimary(limitsFrom(limits));
    }
  }

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      // Unreachable MySQL is mysql_up's to report; the next look tries again.
      void look()
        .catch((error: unknown) => logger.debug({ code: errorCode(error) }, 'server watch: no answer'))
        .finally(schedule);
    }, options.intervalMs);
    timer.unref();
  };
  schedule();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

import type { ResultSetHeader } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { DbPool } from './create-db-pool.js';

/**
 * Deletes expired sessions, login-throttle rows nobody needs any more and expired idempotency keys, in small batches
 * so no delete holds locks for long. Expired sessions are already refused at lookup; this only keeps tables small.
 * "Expired" is by MySQL's clock (UTC, as the columns hold), as at lookup: a worker whose clock runs ahead must not
 * delete live sessions or lift blocks early.
 */
export async function purgeExpired(
  db: DbPool,
  options: { throttleWindowMs: number; batch?: number },
): Promise<{ sessions: number; throttle: number; idempotencyKeys: number }> {
  const batch = options.batch ?? 1000;
  const drain = async (sql: string, params: unknown[]) => {
    let total = 0;
    for (;;) {
      const result = await db.execute<ResultSetHeader>(`${sql} LIMIT ${batch}`, params);
      total += result.affectedRows;
      if (result.affectedRows < batch) return total;
    }
  };
  return {
    sessions: await drain('DELETE FROM sessions WHERE expires_at <= UTC_TIMESTAMP(3)', []),
    throttle: await drain(
      `DELETE FROM login_throttle
        WHERE last_failure_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND AND (blocked_until IS NULL OR blocked_until < UTC_TIMESTAMP(3))`,
      [options.throttleWindowMs * 1000],
    ),
    idempotencyKeys: await drain('DELETE FROM idempotency_keys WHERE expires_at <= UTC_TIMESTAMP(3)', []),
  };
}

/** Runs purgeExpired every `intervalMs` (one worker does this; see start-worker.ts). Returns a stop function. */
export function schedulePurge(
  db: DbPool,
  logger: Logger,
  options: { intervalMs: number; throttleWindowMs: number },
): () => void {
  const timer = setInterval(() => {
    purgeExpired(db, { throttleWindowMs: options.throttleWindowMs }).then(
      (deleted) =>
        deleted.sessions + deleted.throttle + deleted.idempotencyKeys > 0
          ? logger.info({ deleted }, 'purged expired rows')
          : undefined,
      (error: unknown) => logger.warn({ err: error }, 'purge of expired rows failed; will retry'),
    );
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

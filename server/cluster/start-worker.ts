import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { createPasswordHasher } from '../auth/password-hasher.js';
import { createSessionStore } from '../auth/session-store.js';
import { createUserStore } from '../auth/user-store.js';
import { createDbPool, type DbPool } from '../db/create-db-pool.js';
import { createApp } from '../http/create-app.js';
import type { WorkerSpec } from './messages.js';

export interface RunningWorker {
  readonly server: Server;
  readonly db: DbPool;
  /** Stop accepting, finish in-flight requests, close the pool. Idempotent; resolves when drained. */
  shutdown(reason: string): Promise<void>;
}

// Connections stay open longer than typical load balancer idle timeouts (60 s), so the balancer closes first.
const keepAliveTimeoutMs = 65_000;

/** A worker's composition: logger → pool → stores → app → HTTP server, in that order (STYLE.md §1). */
export async function startWorker(spec: WorkerSpec, logger: Logger): Promise<RunningWorker> {
  const { config, budget } = spec;
  let draining: Promise<void> | undefined;
  const db = createDbPool(
    {
      connection: config.db.connection,
      max: budget.perWorker,
      maxIdle: config.db.maxIdle,
      acquireTimeoutMs: config.db.acquireTimeoutMs,
      idleTimeoutMs: config.db.idleTimeoutMs,
    },
    { logger },
  );
  const hasher = await createPasswordHasher({ cost: config.auth.passwordHashCost });
  const app = createApp({
    logger,
    db,
    users: createUserStore(db),
    sessions: createSessionStore(db, { ttlSeconds: config.auth.sessionTtlSeconds }),
    hasher,
    bodyLimitBytes: config.http.bodyLimitBytes,
    testRoutes: config.testRoutes,
    isShuttingDown: () => draining !== undefined,
  });
  const server = createServer({ keepAliveTimeout: keepAliveTimeoutMs, headersTimeout: 20_000, requestTimeout: 30_000 }, app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  async function drain(reason: string): Promise<void> {
    logger.info({ reason }, 'worker draining');
    // Leave the primary a margin to see a clean exit before its own deadline kills us.
    const deadline = setTimeout(() => {
      logger.warn('drain deadline reached; closing remaining connections');
      server.closeAllConnections();
    }, Math.max(100, config.cluster.shutdownTimeoutMs - 1000));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Idle keep-alive sockets would otherwise hold close() open; busy ones close after their response.
    server.closeIdleConnections();
    await closed;
    clearTimeout(deadline);
    await db.end();
    logger.info('worker drained');
  }

  return {
    server,
    db,
    shutdown(reason) {
      draining ??= drain(reason);
      return draining;
    },
  };
}

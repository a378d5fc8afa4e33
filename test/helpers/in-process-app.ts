import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createLoginThrottle } from '../../server/auth/login-throttle.js';
import { createPasswordHasher, type PasswordHasher } from '../../server/auth/password-hasher.js';
import { createSessionStore } from '../../server/auth/session-store.js';
import { createUserStore } from '../../server/auth/user-store.js';
import type { DbConnectionOptions } from '../../server/config/config.js';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { createApp } from '../../server/http/create-app.js';
import { silentLogger } from '../../harness/test-database.js';

export interface InProcessApp {
  readonly url: string;
  readonly db: DbPool;
  readonly server: Server;
  close(): Promise<void>;
}

export interface InProcessAppOptions {
  readonly connection: DbConnectionOptions;
  readonly poolMax?: number;
  readonly acquireTimeoutMs?: number;
  readonly testRoutes?: boolean;
  /** Behind one proxy (trustedProxyHops 1) when true; trustedProxyHops wins when given. */
  readonly trustProxy?: boolean;
  readonly trustedProxyHops?: number;
  readonly logger?: Logger;
  /** The production hasher at the lowest cost when not given. */
  readonly hasher?: PasswordHasher;
}

/** The production factories (pool, stores, hasher, app) on a real port, in this process. */
export async function startInProcessApp(options: InProcessAppOptions): Promise<InProcessApp> {
  const logger = options.logger ?? silentLogger;
  const db = createDbPool(
    { connection: options.connection, max: options.poolMax ?? 5, maxIdle: 5, acquireTimeoutMs: options.acquireTimeoutMs ?? 1000, idleTimeoutMs: 60_000 },
    { logger },
  );
  // The lowest cost the config allows keeps the suite fast; the format and code path are the production ones.
  const hasher = options.hasher ?? (await createPasswordHasher({ cost: 10 }));
  const app = createApp({
    logger,
    db,
    users: createUserStore(db),
    sessions: createSessionStore(db, { ttlSeconds: 3600 }),
    hasher,
    throttle: createLoginThrottle(db),
    trustedProxyHops: options.trustedProxyHops ?? (options.trustProxy ? 1 : 0),
    bodyLimitBytes: 16 * 1024,
    testRoutes: options.testRoutes ?? true,
    isShuttingDown: () => false,
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    db,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.end();
    },
  };
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createPasswordHasher, type PasswordHasher } from '../../server/auth/password-hasher.js';
import { composeWorker } from '../../server/composition/compose-worker.js';
import type { DbConnectionOptions } from '../../server/config/config.js';
import { deepFreeze, loadConfig } from '../../server/config/load-config.js';
import type { DbPool } from '../../server/db/create-db-pool.js';
import { silentLogger } from '../../harness/test-database.js';

export interface InProcessApp {
  readonly url: string;
  readonly db: DbPool;
  readonly server: Server;
  /** The worker's metrics, as the primary would collect them. */
  readonly registry: Registry;
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
  /** More configuration variables, parsed with the rest (e.g. HTTP_MAX_CONCURRENT_REQUESTS). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * A worker's parts (composeWorker, as the cluster builds them) on a real port, in this process: the config is parsed
 * from variables as the service's is, with the test database, a small pool and the lowest hash cost.
 */
export async function startInProcessApp(options: InProcessAppOptions): Promise<InProcessApp> {
  const logger = options.logger ?? silentLogger;
  const hops = options.trustedProxyHops ?? (options.trustProxy ? 1 : 0);
  const parsed = loadConfig({
    NODE_ENV: 'test',
    DB_MAX_IDLE: '5',
    DB_ACQUIRE_TIMEOUT_MS: String(options.acquireTimeoutMs ?? 1000),
    SESSION_TTL_SECONDS: '3600',
    ENABLE_TEST_ROUTES: String(options.testRoutes ?? true),
    ...(hops > 0 ? { TRUST_PROXY: 'true', TRUST_PROXY_HOPS: String(hops) } : {}),
    ...options.env,
  });
  const config = deepFreeze({ ...parsed, db: { ...parsed.db, connection: options.connection } });
  // The lowest cost the config allows keeps the suite fast; the format and code path are the production ones.
  const hasher = options.hasher ?? (await createPasswordHasher({ cost: 10 }));
  const { app, db, registry } = await composeWorker(
    { config, poolMax: options.poolMax ?? 5, slot: 0 },
    { logger, requestLog: logger, isShuttingDown: () => false, hasher },
  );
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    db,
    server,
    registry,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.end();
    },
  };
}

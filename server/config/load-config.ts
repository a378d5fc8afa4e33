import { availableParallelism } from 'node:os';
import { z } from 'zod';
import type { Config } from './config.js';
import { ConfigError } from './config-error.js';
import { parseDatabaseUrl } from './database-url.js';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const port = int(1, 65535);

// Every variable the service reads, with its default. Documented in .env.example and docs/configuration.md.
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  TRUST_PROXY: z.stringbool().default(false),
  TRUST_PROXY_HOPS: int(1, 16).optional(),
  PORT: port.default(8080),
  HTTP_LISTEN_BACKLOG: int(1, 65_535).default(4096),
  HTTP_ACCEPT: z.enum(['primary', 'shared', 'reuseport']).default('reuseport'),
  HTTP_LISTENERS_PER_WORKER: int(1, 256).optional(),
  HTTP_MAX_CONCURRENT_REQUESTS: int(0, 100_000).optional(),
  HTTP_QUEUE_MAX: int(0, 1_000_000).default(10_000),
  HTTP_QUEUE_TIMEOUT_MS: int(1, 600_000).default(10_000),
  METRICS_PORT: port.default(9464),
  WORKERS: int(1, 256).optional(),
  APP_REPLICAS: z.union([z.literal('auto'), int(1, 10_000)]).default(1),
  DATABASE_URL: z.string().min(1).optional(),
  DB_POOL_MAX: int(1, 100_000).default(50),
  DB_RESERVED_CONNECTIONS: int(0, 100_000).default(10),
  DB_ACQUIRE_TIMEOUT_MS: int(1, 600_000).default(1000),
  DB_QUERY_TIMEOUT_MS: int(50, 600_000).default(5000),
  DB_CONNECTION_MAX_LIFETIME_MS: int(1000, 86_400_000).default(1_800_000),
  DB_PING_AFTER_IDLE_MS: int(100, 86_400_000).default(30_000),
  DB_IDLE_TIMEOUT_MS: int(100, 86_400_000).default(60_000),
  DB_MAX_IDLE: int(0, 100_000).default(10),
  DB_FOLLOW_PRIMARY: z.stringbool().default(true),
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(10_000),
  SHUTDOWN_READINESS_DELAY_MS: int(0, 600_000).default(0),
  WORKER_HEARTBEAT_TIMEOUT_MS: int(200, 600_000).default(10_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_REQUEST_FLUSH_MS: int(0, 60_000).default(1000),
  PASSWORD_HASH_COST: int(10, 20).default(14),
  SESSION_TTL_SECONDS: int(60, 31_536_000).default(86_400),
  SESSION_LOOKUP_CONCURRENCY: int(0, 1000).default(4),
  PASSWORD_HASH_CONCURRENCY: int(1, 64).optional(),
  PASSWORD_HASH_QUEUE: int(0, 10_000).optional(),
  PASSWORD_HASH_QUEUE_TIMEOUT_MS: int(1, 60_000).default(500),
  UV_THREADPOOL_SIZE: int(1, 1024).optional(),
  ENABLE_TEST_ROUTES: z.stringbool().default(false),
  METRICS_INSTRUMENTATION: z.stringbool().default(true),
});

// Where the database is when DATABASE_URL is not set (docs/local-database.md).
export const defaultDatabaseUrl = 'mysql://root@127.0.0.1:3306/app';

// Values of these variables never appear in error messages.
const secretVariables = new Set(['DATABASE_URL']);

/**
 * Parses and validates the environment once into a frozen Config.
 * The only place that interprets environment variables; callers pass `process.env` in.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  // Empty strings mean "unset", as they do in most .env files.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const shown = secretVariables.has(name) ? '' : ` (got ${JSON.stringify(present[name])})`;
      return `${name}: ${issue.message}${shown}`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  if (e.METRICS_PORT === e.PORT) {
    throw new ConfigError(
      'Invalid configuration: METRICS_PORT must differ from PORT so /metrics is never on the public API port',
    );
  }
  if (e.SHUTDOWN_READINESS_DELAY_MS >= e.SHUTDOWN_TIMEOUT_MS) {
    throw new ConfigError(
      'Invalid configuration: SHUTDOWN_READINESS_DELAY_MS must be shorter than SHUTDOWN_TIMEOUT_MS, which also has to cover the drain',
    );
  }
  if (e.TRUST_PROXY_HOPS !== undefined && !e.TRUST_PROXY) {
    throw new ConfigError(
      'Invalid configuration: TRUST_PROXY_HOPS is set but TRUST_PROXY is not; set TRUST_PROXY=true behind a proxy, or unset TRUST_PROXY_HOPS',
    );
  }
  if (e.ENABLE_TEST_ROUTES && e.NODE_ENV === 'production') {
    throw new ConfigError('Invalid configuration: ENABLE_TEST_ROUTES must not be set when NODE_ENV=production');
  }
  if (e.HTTP_LISTENERS_PER_WORKER !== undefined && e.HTTP_ACCEPT !== 'reuseport') {
    throw new ConfigError(
      "Invalid configuration: HTTP_LISTENERS_PER_WORKER needs HTTP_ACCEPT=reuseport (with `primary` and `shared` there is one socket, the primary's)",
    );
  }
  const connection = parseDatabaseUrl(e.DATABASE_URL ?? defaultDatabaseUrl);
  // Two hashes per core a worker can count on: when one finishes, the other keeps the core hashing until the event loop
  // (busy shedding a flood) gets round to starting the next. One per core left cores idle during a login flood.
  const hashConcurrency =
    e.PASSWORD_HASH_CONCURRENCY ??
    Math.max(1, Math.floor((2 * availableParallelism()) / (e.WORKERS ?? availableParallelism())));
  return deepFreeze({
    nodeEnv: e.NODE_ENV,
    http: {
      host: e.HOST,
      port: e.PORT,
      bodyLimitBytes: 16 * 1024,
      trustedProxyHops: e.TRUST_PROXY ? (e.TRUST_PROXY_HOPS ?? 1) : 0,
      listenBacklog: e.HTTP_LISTEN_BACKLOG,
      accept: e.HTTP_ACCEPT,
      // 16 sockets take in a burst of connections 16 at a time per loop iteration; `primary` and `shared` have one.
      listenersPerWorker: e.HTTP_LISTENERS_PER_WORKER ?? (e.HTTP_ACCEPT === 'reuseport' ? 16 : 1),
      // Unset: twice the pool's live ceiling, so the pool always has the next request waiting for a connection.
      maxConcurrentRequests: e.HTTP_MAX_CONCURRENT_REQUESTS === 0 ? 'off' : (e.HTTP_MAX_CONCURRENT_REQUESTS ?? 'pool'),
      queueMax: e.HTTP_QUEUE_MAX,
      queueTimeoutMs: e.HTTP_QUEUE_TIMEOUT_MS,
    },
    metrics: { port: e.METRICS_PORT, instrumentation: e.METRICS_INSTRUMENTATION },
    cluster: {
      workers: e.WORKERS ?? availableParallelism(),
      replicas: e.APP_REPLICAS,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      readinessDelayMs: e.SHUTDOWN_READINESS_DELAY_MS,
      heartbeatTimeoutMs: e.WORKER_HEARTBEAT_TIMEOUT_MS,
    },
    db: {
      connection,
      urlGiven: e.DATABASE_URL !== undefined,
      poolMax: e.DB_POOL_MAX,
      reservedConnections: e.DB_RESERVED_CONNECTIONS,
      acquireTimeoutMs: e.DB_ACQUIRE_TIMEOUT_MS,
      queryTimeoutMs: e.DB_QUERY_TIMEOUT_MS,
      maxLifetimeMs: e.DB_CONNECTION_MAX_LIFETIME_MS,
      pingAfterIdleMs: e.DB_PING_AFTER_IDLE_MS,
      idleTimeoutMs: e.DB_IDLE_TIMEOUT_MS,
      maxIdle: e.DB_MAX_IDLE,
      followPrimary: e.DB_FOLLOW_PRIMARY,
    },
    auth: {
      passwordHashCost: e.PASSWORD_HASH_COST,
      sessionTtlSeconds: e.SESSION_TTL_SECONDS,
      sessionLookupConcurrency: e.SESSION_LOOKUP_CONCURRENCY,
      // scrypt is CPU- and memory-bound: by default each worker hashes on its share of the cores, no more,
      // and keeps a short line (5 per slot): the back of a longer line could not be served within the wait
      // limit anyway and would get its 503 late instead of at once (measured in test/chaos/login-overload).
      hashConcurrency,
      hashQueue: e.PASSWORD_HASH_QUEUE ?? 5 * hashConcurrency,
      hashQueueTimeoutMs: e.PASSWORD_HASH_QUEUE_TIMEOUT_MS,
      // scrypt runs on libuv's thread pool, as do DNS lookups (a new MySQL connection) and file I/O: keep two threads
      // beyond the hashes, so a login flood never queues a connect behind the hashes. libuv's default is 4.
      threadPoolSize: e.UV_THREADPOOL_SIZE ?? Math.max(4, hashConcurrency + 2),
    },
    log: { level: e.LOG_LEVEL, requestFlushMs: e.LOG_REQUEST_FLUSH_MS },
    testRoutes: e.ENABLE_TEST_ROUTES,
  });
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

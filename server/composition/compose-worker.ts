import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createProcessRegistry } from '../metrics/create-process-registry.js';
import { createAdmissionMetrics } from '../metrics/admission-metrics.js';
import { createHttpMetrics } from '../metrics/http-metrics.js';
import { createPoolMetrics } from '../metrics/pool-metrics.js';
import { createPoolStateMetrics } from '../metrics/pool-state-metrics.js';
import { createAdmissionLimiter } from '../admission/admission-limiter.js';
import { createLoginLookup } from '../auth/login-lookup.js';
import { createLoginThrottle, defaultThrottlePolicy } from '../auth/login-throttle.js';
import { createPasswordHasher, hashingRefusal, type PasswordHasher } from '../auth/password-hasher.js';
import { createSessionStore } from '../auth/session-store.js';
import { createUserStore } from '../auth/user-store.js';
import { requestsAtOnce } from '../budget/connection-budget.js';
import type { Config } from '../config/config.js';
import { createDbPool, primaryDatabasePoolName, type DbPool, type DbPoolDeps } from '../db/create-db-pool.js';
import type { AppState } from '../http/app-state.js';
import { createApp } from '../http/create-app.js';
import { createIdempotentResponder } from '../http/idempotent-responder.js';
import { createIdempotencyStore } from '../idempotency/idempotency-store.js';

export interface WorkerComposition {
  /** The request handler; whoever owns the socket serves `app.callback()`. */
  readonly app: Koa<AppState>;
  readonly db: DbPool;
  /** This worker's metrics; the primary asks for them over IPC. */
  readonly registry: Registry;
}

export interface ComposeWorkerSpec {
  readonly config: Config;
  /** This worker's share of the connection budget. */
  readonly poolMax: number;
  /** The `worker` label of every series. */
  readonly slot: number;
}

export interface ComposeWorkerDeps {
  readonly logger: Logger;
  /** The buffered request log (createRequestLogger). */
  readonly requestLog: Logger;
  /** True once the worker drains: /readyz fails and responses say `Connection: close`. */
  readonly isShuttingDown: () => boolean;
  /** Replaces the hasher the config describes (a test's lower cost or its own limiter). */
  readonly hasher?: PasswordHasher;
  /** APP_REPLICAS=auto: registers each new pool connection under the replica's claim (false refuses it). */
  readonly onConnect?: DbPoolDeps['onConnect'];
}

/**
 * A worker's parts, in dependency order: registry → pool → stores → app. The cluster's workers, the in-process app
 * of the tests and the CPU bench all build them here, so what they measure and test is what runs.
 */
export async function composeWorker(spec: ComposeWorkerSpec, deps: ComposeWorkerDeps): Promise<WorkerComposition> {
  const { config } = spec;
  const { logger } = deps;
  const instrumented = config.metrics.instrumentation;
  const registry = createProcessRegistry(String(spec.slot));
  const poolObserver = createPoolMetrics(registry, primaryDatabasePoolName);
  const db = createDbPool(
    {
      connection: config.db.connection,
      max: spec.poolMax,
      maxIdle: config.db.maxIdle,
      acquireTimeoutMs: config.db.acquireTimeoutMs,
      queryTimeoutMs: config.db.queryTimeoutMs,
      maxLifetimeMs: config.db.maxLifetimeMs,
      pingAfterIdleMs: config.db.pingAfterIdleMs,
      idleTimeoutMs: config.db.idleTimeoutMs,
      followPrimary: config.db.followPrimary,
    },
    // The counters are registered (at zero) either way; only the instrumented pool feeds them.
    {
      logger,
      ...(instrumented ? { observer: poolObserver } : {}),
      ...(deps.onConnect ? { onConnect: deps.onConnect } : {}),
    },
  );
  createPoolStateMetrics(registry, db);
  const hasher =
    deps.hasher ??
    (await createPasswordHasher({
      cost: config.auth.passwordHashCost,
      limiter: createAdmissionLimiter({
        concurrency: config.auth.hashConcurrency,
        maxQueue: config.auth.hashQueue,
        maxWaitMs: config.auth.hashQueueTimeoutMs,
        refusal: hashingRefusal,
      }),
    }));
  const { http } = config;
  const admission =
    http.maxConcurrentRequests === 'off'
      ? undefined
      : createAdmissionLimiter({
          concurrency:
            http.maxConcurrentRequests === 'pool' ? () => requestsAtOnce(db.ceiling()) : http.maxConcurrentRequests,
          maxQueue: http.queueMax,
          maxWaitMs: http.queueTimeoutMs,
        });
  const admissionObserver = admission && createAdmissionMetrics(registry, admission);
  const requestTimeoutMs = config.db.acquireTimeoutMs + config.db.queryTimeoutMs;
  const throttle = createLoginThrottle(db, defaultThrottlePolicy);
  const app = createApp({
    logger,
    requestLog: deps.requestLog,
    db,
    users: createUserStore(db),
    sessions: createSessionStore(db, {
      ttlSeconds: config.auth.sessionTtlSeconds,
      lookupConcurrency: config.auth.sessionLookupConcurrency,
    }),
    hasher,
    throttle,
    logins: createLoginLookup(db, throttle),
    // A claim on a key lasts as long as the request that holds it may run, and a second more for the clocks' sake.
    idempotency: createIdempotentResponder(createIdempotencyStore(db, { leaseMs: requestTimeoutMs + 1000 })),
    trustedProxyHops: config.http.trustedProxyHops,
    bodyLimitBytes: config.http.bodyLimitBytes,
    testRoutes: config.testRoutes,
    requestTimeoutMs,
    isShuttingDown: deps.isShuttingDown,
    instrumentation: instrumented ? createHttpMetrics(registry) : undefined,
    ...(admission ? { admission: { limiter: admission, observer: instrumented ? admissionObserver : undefined } } : {}),
  });
  return { app, db, registry };
}

import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { ConfigError } from '../../server/config/config-error.js';
import { loadConfig } from '../../server/config/load-config.js';

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadConfig({});
    assert.equal(config.http.port, 8080);
    assert.equal(config.http.host, '0.0.0.0');
    assert.equal(config.metrics.port, 9464);
    assert.equal(config.cluster.workers, availableParallelism());
    assert.equal(config.cluster.replicas, 1);
    assert.deepEqual(config.db.connection, {
      host: '127.0.0.1',
      port: 3306,
      user: 'root',
      password: '',
      database: 'app',
    });
    assert.equal(config.db.poolMax, 50);
    assert.equal(config.db.reservedConnections, 10);
    assert.equal(config.db.acquireTimeoutMs, 1000);
    assert.equal(config.db.queryTimeoutMs, 5000);
    assert.equal(config.db.maxLifetimeMs, 1_800_000);
    assert.equal(config.db.pingAfterIdleMs, 30_000);
    assert.equal(config.db.followPrimary, true);
    assert.equal(config.cluster.shutdownTimeoutMs, 10_000);
    assert.equal(config.http.bodyLimitBytes, 16 * 1024);
    assert.equal(config.testRoutes, false);
    assert.equal(config.log.requestFlushMs, 1000);
    assert.equal(config.http.trustedProxyHops, 0);
    assert.equal(config.http.listenBacklog, 4096);
    assert.equal(config.http.accept, 'reuseport');
    assert.equal(config.http.listenersPerWorker, 16);
    assert.equal(config.http.maxConcurrentRequests, 'pool');
    assert.equal(config.http.queueMax, 10_000);
    assert.equal(config.http.queueTimeoutMs, 10_000);
  });

  it('parses every variable and treats empty strings as unset', () => {
    const config = loadConfig({
      PORT: '9000',
      METRICS_PORT: '',
      WORKERS: '3',
      APP_REPLICAS: '2',
      DATABASE_URL: 'mysql://app%40svc:p%3Ass@db.internal:3307/shop',
      DB_POOL_MAX: '20',
      DB_RESERVED_CONNECTIONS: '0',
      DB_ACQUIRE_TIMEOUT_MS: '250',
      DB_QUERY_TIMEOUT_MS: '1500',
      DB_CONNECTION_MAX_LIFETIME_MS: '60000',
      DB_PING_AFTER_IDLE_MS: '2000',
      DB_IDLE_TIMEOUT_MS: '5000',
      DB_MAX_IDLE: '2',
      DB_FOLLOW_PRIMARY: 'false',
      SHUTDOWN_TIMEOUT_MS: '3000',
      LOG_LEVEL: 'warn',
      LOG_REQUEST_FLUSH_MS: '0',
      PASSWORD_HASH_COST: '15',
      SESSION_TTL_SECONDS: '600',
      ENABLE_TEST_ROUTES: 'true',
      TRUST_PROXY: 'true',
      TRUST_PROXY_HOPS: '2',
      HTTP_LISTEN_BACKLOG: '4096',
      HTTP_ACCEPT: 'reuseport',
      HTTP_LISTENERS_PER_WORKER: '8',
      HTTP_MAX_CONCURRENT_REQUESTS: '64',
      HTTP_QUEUE_MAX: '500',
      HTTP_QUEUE_TIMEOUT_MS: '2000',
    });
    assert.equal(config.http.port, 9000);
    assert.equal(config.metrics.port, 9464);
    assert.equal(config.cluster.workers, 3);
    assert.equal(config.cluster.replicas, 2);
    assert.deepEqual(config.db.connection, {
      host: 'db.internal',
      port: 3307,
      user: 'app@svc',
      password: 'p:ss',
      database: 'shop',
    });
    assert.equal(config.db.poolMax, 20);
    assert.equal(config.db.reservedConnections, 0);
    assert.equal(config.db.maxIdle, 2);
    assert.equal(config.db.acquireTimeoutMs, 250);
    assert.equal(config.db.queryTimeoutMs, 1500);
    assert.equal(config.db.maxLifetimeMs, 60_000);
    assert.equal(config.db.pingAfterIdleMs, 2000);
    assert.equal(config.db.idleTimeoutMs, 5000);
    assert.equal(config.db.followPrimary, false);
    assert.equal(config.cluster.shutdownTimeoutMs, 3000);
    assert.equal(config.auth.sessionTtlSeconds, 600);
    assert.equal(config.log.level, 'warn');
    assert.equal(config.log.requestFlushMs, 0);
    assert.equal(config.auth.passwordHashCost, 15);
    assert.equal(config.testRoutes, true);
    assert.equal(config.http.trustedProxyHops, 2);
    assert.equal(config.http.listenBacklog, 4096);
    assert.equal(config.http.accept, 'reuseport');
    assert.equal(config.http.listenersPerWorker, 8);
    assert.equal(config.http.maxConcurrentRequests, 64);
    assert.equal(config.http.queueMax, 500);
    assert.equal(config.http.queueTimeoutMs, 2000);
    assert.equal(loadConfig({ HTTP_MAX_CONCURRENT_REQUESTS: '0' }).http.maxConcurrentRequests, 'off');
  });

  it('tells whether DATABASE_URL was given, even when it names the default address', () => {
    assert.equal(loadConfig({}).db.urlGiven, false);
    assert.equal(loadConfig({ DATABASE_URL: '' }).db.urlGiven, false, 'an empty value is unset');
    assert.equal(loadConfig({ DATABASE_URL: 'mysql://root@127.0.0.1:3306/app' }).db.urlGiven, true);
  });

  it('takes APP_REPLICAS=auto: replicas agree on their shares live', () => {
    assert.equal(loadConfig({ APP_REPLICAS: 'auto' }).cluster.replicas, 'auto');
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({});
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.db));
    assert.ok(Object.isFrozen(config.db.connection));
    assert.throws(() => {
      (config.db as { poolMax: number }).poolMax = 1;
    }, TypeError);
  });

  for (const [name, value] of [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['WORKERS', '0'],
    ['DB_POOL_MAX', '1.5'],
    ['DB_RESERVED_CONNECTIONS', '-1'],
    ['LOG_LEVEL', 'loud'],
    ['ENABLE_TEST_ROUTES', 'maybe'],
    ['PASSWORD_HASH_COST', '4'],
    ['TRUST_PROXY_HOPS', '0'],
    ['DB_QUERY_TIMEOUT_MS', '0'],
    ['DB_QUERY_TIMEOUT_MS', '2s'],
    ['DB_CONNECTION_MAX_LIFETIME_MS', '10'],
    ['DB_PING_AFTER_IDLE_MS', '-1'],
    ['DB_FOLLOW_PRIMARY', 'maybe'],
    ['APP_REPLICAS', '0'],
    ['APP_REPLICAS', 'automatic'],
  ] as const) {
    it(`refuses ${name}=${value} with a message naming the variable`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, new RegExp(`${name}: `));
          return true;
        },
      );
    });
  }

  it('reports every bad variable at once', () => {
    assert.throws(() => loadConfig({ PORT: 'x', WORKERS: 'y' }), /PORT: .*WORKERS: /);
  });

  it('never echoes DATABASE_URL, which may hold a password', () => {
    assert.throws(
      () => loadConfig({ DATABASE_URL: 'postgres://u:hunter2@h/db' }),
      (error: unknown) =>
        error instanceof ConfigError && /DATABASE_URL/.test(error.message) && !error.message.includes('hunter2'),
    );
    assert.throws(
      () => loadConfig({ DATABASE_URL: 'not a url hunter2' }),
      (error: unknown) => error instanceof ConfigError && !error.message.includes('hunter2'),
    );
  });

  it('refuses HTTP_LISTENERS_PER_WORKER unless each worker has sockets of its own (HTTP_ACCEPT=reuseport)', () => {
    assert.throws(
      () => loadConfig({ HTTP_ACCEPT: 'primary', HTTP_LISTENERS_PER_WORKER: '8' }),
      /HTTP_LISTENERS_PER_WORKER needs HTTP_ACCEPT=reuseport/,
    );
    assert.throws(
      () => loadConfig({ HTTP_ACCEPT: 'shared', HTTP_LISTENERS_PER_WORKER: '2' }),
      /HTTP_LISTENERS_PER_WORKER needs HTTP_ACCEPT=reuseport/,
    );
    assert.equal(loadConfig({ HTTP_ACCEPT: 'reuseport' }).http.listenersPerWorker, 16);
    assert.equal(loadConfig({ HTTP_ACCEPT: 'primary' }).http.listenersPerWorker, 1);
  });

  it('keeps /metrics off the API port', () => {
    assert.throws(() => loadConfig({ PORT: '8080', METRICS_PORT: '8080' }), /METRICS_PORT must differ from PORT/);
  });

  it('runs two hashes per core a worker can count on, at least one', () => {
    const cores = availableParallelism();
    assert.equal(loadConfig({ WORKERS: String(cores) }).auth.hashConcurrency, 2);
    assert.equal(loadConfig({ WORKERS: '1' }).auth.hashConcurrency, 2 * cores);
    assert.equal(loadConfig({ WORKERS: String(4 * cores) }).auth.hashConcurrency, 1);
    assert.equal(loadConfig({ WORKERS: String(cores) }).auth.hashQueue, 10);
  });

  it("sizes libuv's thread pool for the hashes plus two, never under its default 4, unless UV_THREADPOOL_SIZE is set", () => {
    assert.equal(loadConfig({ PASSWORD_HASH_CONCURRENCY: '2' }).auth.threadPoolSize, 4);
    assert.equal(loadConfig({ PASSWORD_HASH_CONCURRENCY: '6' }).auth.threadPoolSize, 8);
    assert.equal(loadConfig({ PASSWORD_HASH_CONCURRENCY: '6', UV_THREADPOOL_SIZE: '16' }).auth.threadPoolSize, 16);
  });

  it('keeps the hashing line at 5 per slot unless told otherwise', () => {
    assert.equal(loadConfig({ PASSWORD_HASH_CONCURRENCY: '3' }).auth.hashQueue, 15);
    assert.equal(loadConfig({ PASSWORD_HASH_CONCURRENCY: '3', PASSWORD_HASH_QUEUE: '0' }).auth.hashQueue, 0);
  });

  it('refuses a readiness delay that leaves no time to drain', () => {
    assert.throws(
      () => loadConfig({ SHUTDOWN_READINESS_DELAY_MS: '10000', SHUTDOWN_TIMEOUT_MS: '10000' }),
      /SHUTDOWN_READINESS_DELAY_MS/,
    );
    assert.equal(
      loadConfig({ SHUTDOWN_READINESS_DELAY_MS: '5000', SHUTDOWN_TIMEOUT_MS: '15000' }).cluster.readinessDelayMs,
      5000,
    );
  });

  it('trusts one proxy by default behind TRUST_PROXY, and refuses hops without it', () => {
    assert.equal(loadConfig({ TRUST_PROXY: 'true' }).http.trustedProxyHops, 1);
    assert.equal(loadConfig({ TRUST_PROXY: 'false' }).http.trustedProxyHops, 0);
    assert.throws(() => loadConfig({ TRUST_PROXY_HOPS: '2' }), /TRUST_PROXY_HOPS is set but TRUST_PROXY is not/);
  });

  it('refuses test routes in production', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production', ENABLE_TEST_ROUTES: 'true' }), /ENABLE_TEST_ROUTES/);
  });
});

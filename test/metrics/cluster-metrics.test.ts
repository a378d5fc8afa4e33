import assert from 'node:assert/strict';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { primaryMetricNames as primaryMetrics, workerMetricNames } from '../helpers/app-metric-names.js';
import { promtoolLint, scrape } from '../../harness/scrape.js';
import { serverSideConnections } from '../../harness/test-database.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { waitUntil } from '../../harness/wait-until.js';

const perWorkerMetrics = [
  ...workerMetricNames,
  'nodejs_eventloop_lag_p99_seconds',
  'process_cpu_user_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_heap_size_used_bytes',
];
// What promtool's linter says about names the issue mandates (OpenTelemetry's) or prom-client's defaults use.
const acceptedLintFindings = [
  'db_client_connection_count non-histogram and non-summary metrics should not have "_count" suffix',
  /^nodejs_active_\w+_total non-counter metrics should not have "_total" suffix$/,
];

describe('cluster /metrics', function () {
  this.timeout(60_000);
  let mariadb: ThrowawayMariadb;
  let cluster: ClusterProcess;
  let admin: Connection;
  let metricsUrl: string;

  before(async () => {
    mariadb = await startThrowawayMariadb({ maxConnections: 60 });
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: mariadb.url,
      DB_POOL_MAX: '3',
      DB_RESERVED_CONNECTIONS: '5',
      // Long enough that the 8 requests held below can all be seen holding or waiting on a busy machine, whose scrapes
      // take up to a second, before the first holder lets go (and its waiters get their connection in time).
      DB_ACQUIRE_TIMEOUT_MS: '5000',
      // The held statements below (up to 7 s) run to their end rather than into the statement deadline.
      DB_QUERY_TIMEOUT_MS: '15000',
      DB_MAX_IDLE: '3',
      // Round-robin: the 8 held requests below split 4 and 4, so each worker's waiter gets a connection within the
      // acquire deadline. With reuseport the kernel's hash may put 7 on one worker, and its last one times out.
      HTTP_ACCEPT: 'primary',
    });
    metricsUrl = `http://127.0.0.1:${cluster.metricsPort}/metrics`;
    const { database: _db, ...server } = parseDatabaseUrl(mariadb.url);
    admin = await mysql.createConnection(server);
  });
  after(async () => {
    await admin?.end();
    await cluster?.stop();
    await mariadb?.destroy();
  });

  const workerSlots = (series: { labels: Record<string, string> }[]) =>
    [...new Set(series.map((s) => s.labels['worker']))].sort();

  it('exposes every metric, in a valid exposition, with one series set per worker', async () => {
    const email = 'metrics@example.com';
    await request(`${cluster.url}/api/users`, { method: 'POST', json: { email, password: 'metrics-pass', name: 'M' } });
    for (let i = 0; i < 6; i++)
      await request(`${cluster.url}/api/login`, { method: 'POST', json: { email, password: 'metrics-pass' } });
    await request(`${cluster.url}/no/such/path/${Date.now()}`);

    const result = await scrape(metricsUrl);
    for (const name of [...perWorkerMetrics, ...primaryMetrics]) assert.ok(result.names.has(name), `missing ${name}`);
    for (const name of [
      'db_client_connection_max',
      'db_client_connection_pending_requests',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      assert.deepEqual(
        workerSlots(result.series(name)),
        name.startsWith('nodejs') ? ['0', '1', 'primary'] : ['0', '1'],
        name,
      );
    }
    assert.equal(result.sum('db_client_connection_max'), 6);
    assert.equal(result.sum('db_pool_budget_per_worker_connections'), 3);
    // Route templates, never raw paths: the random 404 path collapses into one series.
    const routes = new Set(
      result.series('http_server_request_duration_seconds_count').map((s) => s.labels['http_route']),
    );
    assert.ok(routes.has('/api/login') && routes.has('unmatched'), [...routes].join());
    assert.ok(![...routes].some((route) => route?.startsWith('/no/such')));
    assert.equal(
      result.sum('http_server_request_duration_seconds_count', {
        http_route: '/api/login',
        http_response_status_code: '200',
      }),
      6,
    );

    const findings = promtoolLint(result.text);
    if (findings === undefined) console.warn('    promtool not installed: exposition lint skipped (CI installs it)');
    for (const finding of findings ?? []) {
      assert.ok(
        acceptedLintFindings.some((accepted) =>
          typeof accepted === 'string' ? accepted === finding : accepted.test(finding),
        ),
        finding,
      );
    }
  });

  it('reports exactly the connections held and waited for, matching what MariaDB sees', async () => {
    // 8 requests each holding a connection for 3 s against 2 workers × 3 connections.
    const requests = Array.from({ length: 8 }, () => request(`${cluster.url}/test/db-sleep?seconds=3`));
    try {
      // Scraped until all 8 have arrived and every waiter's worker lends all 3 of its connections (how soon depends on
      // the machine: a connection being opened, or checked before it is lent, is neither idle nor used meanwhile),
      // while the first holders still hold. A waiter beside an idle connection never settles.
      let during = await scrape(metricsUrl);
      const used = (s: typeof during, worker: string) =>
        s.sum('db_client_connection_count', { db_client_connection_state: 'used', worker });
      const pending = (s: typeof during, worker: string) => s.sum('db_client_connection_pending_requests', { worker });
      const settled = (s: typeof during) =>
        ['0', '1'].every((worker) => pending(s, worker) === 0 || used(s, worker) === 3) &&
        ['0', '1'].reduce((sum, worker) => sum + used(s, worker) + pending(s, worker), 0) === 8;
      await waitUntil(
        async () => {
          during = await scrape(metricsUrl);
          return settled(during);
        },
        {
          what: 'every request holding or waiting, no waiter while its worker has a connection to lend',
          timeoutMs: 2500,
        },
      );
      for (const worker of ['0', '1']) {
        assert.ok(used(during, worker) <= 3);
        if (pending(during, worker) > 0)
          assert.equal(
            during.sum('db_client_connection_count', { db_client_connection_state: 'idle', worker }),
            0,
            `worker ${worker} has waiters while a connection is idle`,
          );
      }
      const open = during.sum('db_client_connection_count');
      assert.equal(
        await serverSideConnections(admin, 'app'),
        open,
        'PROCESSLIST for the app database equals used + idle',
      );
    } finally {
      // Never leaves its requests running into the next test's counts.
      await Promise.allSettled(requests);
    }

    const responses = await Promise.all(requests);
    assert.deepEqual(
      responses.map((r) => r.status),
      Array(8).fill(200),
    );
    const after = await scrape(metricsUrl);
    assert.equal(after.sum('db_client_connection_count', { db_client_connection_state: 'used' }), 0);
    assert.equal(after.sum('db_client_connection_pending_requests'), 0);
    assert.equal(
      await serverSideConnections(admin, 'app'),
      after.sum('db_client_connection_count', { db_client_connection_state: 'idle' }),
      'nothing leaked',
    );
  });

  it('counts acquire timeouts and includes them in the wait-time histogram', async () => {
    const before = await scrape(metricsUrl);
    // Held past the acquire deadline (5 s), so whoever waits for one of these times out.
    const requests = Array.from({ length: 10 }, () => request(`${cluster.url}/test/db-sleep?seconds=7`));
    const statuses = (await Promise.all(requests)).map((r) => r.status);
    const timedOut = statuses.filter((s) => s === 503).length;
    assert.ok(timedOut >= 4, `expected at least 4 of 10 to time out, got ${statuses.join()}`);
    const after = await scrape(metricsUrl);
    assert.equal(
      after.sum('db_client_connection_timeouts_total') - before.sum('db_client_connection_timeouts_total'),
      timedOut,
    );
    const delta = (name: string, labels: Record<string, string> = {}) =>
      after.sum(name, labels) - before.sum(name, labels);
    assert.equal(
      delta('db_client_connection_wait_time_seconds_count'),
      10,
      'every acquisition is observed, including those that timed out',
    );
    const slowWaits =
      delta('db_client_connection_wait_time_seconds_count') -
      delta('db_client_connection_wait_time_seconds_bucket', { le: '1' });
    assert.equal(slowWaits, timedOut, 'the timed-out waits (5 s) sit above the 1 s bucket');
  });

  it("matches MySQL's Threads_connected within the primary's own connection", async () => {
    // The primary reads status at most once a second, and pools may open or close a connection between its reading
    // and ours: the two agree once a reading is fresh and nothing moved in between.
    let result = await scrape(metricsUrl);
    await waitUntil(
      async () => {
        result = await scrape(metricsUrl);
        const [[row]] = await admin.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Threads_connected'");
        return Math.abs(Number(row?.['Value']) - result.sum('mysql_global_status_threads_connected')) <= 1;
      },
      { what: 'Threads_connected on /metrics within 1 of SHOW STATUS', timeoutMs: 10_000, intervalMs: 250 },
    );
    assert.equal(result.sum('mysql_up'), 1);
    assert.equal(result.sum('mysql_global_variables_max_connections'), 60);
    assert.equal(result.sum('mysql_global_status_connection_errors_total', { error: 'max_connections' }), 0);
  });

  it('answers without a stopped worker, and counts the miss', async () => {
    const ready = cluster.logs.filter((l) => l.msg === 'worker ready');
    const victim = ready[ready.length - 1]!;
    const slot = String(victim.worker);
    const before = await scrape(metricsUrl);
    process.kill(Number(victim.pid), 'SIGSTOP');
    try {
      const during = await scrape(metricsUrl);
      assert.deepEqual(
        workerSlots(during.series('db_client_connection_max')),
        ['0', '1'].filter((s) => s !== slot),
      );
      assert.equal(
        during.sum('cluster_scrape_failures_total', { worker: slot }) -
          before.sum('cluster_scrape_failures_total', { worker: slot }),
        1,
      );
    } finally {
      process.kill(Number(victim.pid), 'SIGCONT');
    }
  });

  it('reports mysql_up 0 when MySQL is unreachable, and keeps answering', async () => {
    await mariadb.kill();
    // The status is read at most once a second: the first reading after the kill says so.
    let down = await scrape(metricsUrl);
    await waitUntil(
      async () => {
        down = await scrape(metricsUrl);
        return down.sum('mysql_up') === 0;
      },
      { what: 'mysql_up 0', timeoutMs: 10_000, intervalMs: 250 },
    );
    assert.equal(down.series('mysql_global_status_threads_connected').length, 0, 'no stale values while down');
    assert.ok(down.names.has('db_client_connection_count'), 'worker series still present');
  });
});

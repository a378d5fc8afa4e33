import { strict as assert } from 'node:assert';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import type { ConnectionBudget } from '../../server/budget/connection-budget.js';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { signUp } from '../helpers/sign-up.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { closedLoop, Stopper, tally } from '../../harness/traffic.js';

/*
 * A per-account limit (CREATE USER … WITH MAX_USER_CONNECTIONS n), the usual shape on managed and shared servers:
 * the global max_user_connections is 0, only the session value shows the account's own limit. The budget must
 * fit inside it, or MySQL refuses our own pools with errno 1226 (MariaDB) / 1203 (MySQL).
 */

const account = 'limited';

async function createAccount(admin: Connection, port: number, name: string, limit: number): Promise<string> {
  await admin.query(`CREATE USER '${name}'@'127.0.0.1' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS ${limit}`);
  await admin.query(`GRANT ALL ON app.* TO '${name}'@'127.0.0.1'`);
  return `mysql://${name}:pw@127.0.0.1:${port}/app`;
}

async function accountConnections(admin: Connection, name: string): Promise<number> {
  const [[row]] = await admin.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?',
    [name],
  );
  return Number(row?.['n']);
}

describe('connection budget against a per-account MAX_USER_CONNECTIONS', function () {
  this.timeout(90_000);
  let mariadb: ThrowawayMariadb | undefined;
  let admin: Connection | undefined;
  let cluster: ClusterProcess | undefined;

  before(async () => {
    mariadb = await startThrowawayMariadb({ maxConnections: 151 });
    admin = await createConnection(mariadb.url);
  });

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  after(async () => {
    await admin?.end().catch(() => admin?.destroy());
    await mariadb?.destroy();
  });

  it('sizes the pools from the account limit of 20: two workers under load never get errno 1203/1226', async () => {
    const url = await createAccount(admin!, mariadb!.port, account, 20);
    cluster = await startCluster({
      WORKERS: '2',
      DB_POOL_MAX: '50',
      DB_RESERVED_CONNECTIONS: '2',
      DATABASE_URL: url,
      // Every client's request goes to the pools at once: it is the pools this test presses, not the request line.
      HTTP_MAX_CONCURRENT_REQUESTS: '1000',
    });
    const line = cluster.logs.find((l) => l.msg === 'connection budget') as { budget: ConnectionBudget } | undefined;
    assert.ok(line, 'the primary logs its budget decision');
    // floor((20 − 2 reserve − 1 primary) / (2 workers + 1 surge)) = 5
    assert.deepEqual(
      { limit: line.budget.limit, limitSource: line.budget.limitSource, perWorker: line.budget.perWorker },
      { limit: 20, limitSource: 'max_user_connections_account', perWorker: 5 },
    );
    const metrics = await (await fetch(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).text();
    assert.match(metrics, /db_pool_budget_limit_info\{limit_source="max_user_connections_account"\} 1/);
    // MySQL's limit for the account, live, where the alert rules can compare the pools with it.
    assert.match(metrics, /^mysql_session_max_user_connections 20$/m);

    const { auth } = await signUp(cluster.url, 'account');
    const stopper = new Stopper();
    let peak = 0;
    const sampling = (async () => {
      while (!stopper.stopped) {
        peak = Math.max(peak, await accountConnections(admin!, account));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    // 150 clients want far more connections than the account allows; half hold theirs for 200 ms.
    const samples = await closedLoop({
      baseUrl: cluster.url,
      clients: 150,
      durationMs: 4000,
      maxRequestsPerClient: 200,
      timeoutMs: 10_000,
      next: (n, i) => ({ path: (n + i) % 2 === 0 ? '/api/me' : '/test/db-sleep?seconds=0.2', headers: auth }),
    });
    stopper.stop();
    await sampling;
    const outcomes = tally(samples);
    console.log(`      [account limit] outcomes=${JSON.stringify(outcomes)} peakAccountConnections=${peak}`);
    assert.deepEqual(Object.keys(outcomes).sort(), ['200', '503'], JSON.stringify(outcomes));
    assert.ok(
      samples.filter((s) => s.status === 503).every((s) => Number(s.retryAfter) > 0),
      '503s carry Retry-After',
    );
    assert.ok(peak <= 20 - 2, `the account held ${peak} connections at its peak (its limit is 20, 2 reserved)`);
    assert.ok(peak >= 2 * 5, `the account held ${peak} connections at its peak: the pools were in use`);

    await cluster.stop(); // flushes the buffered request lines
    const causes = new Set(
      cluster.logs.filter((l) => l.msg === 'request' && Number(l['status']) >= 500).map((l) => String(l['cause'])),
    );
    assert.deepEqual(
      [...causes].filter((cause) => cause !== 'acquire_timeout'),
      [],
      'no ER_USER_LIMIT_REACHED / ER_TOO_MANY_USER_CONNECTIONS',
    );
    // Nor in any logged driver error (a lost connection, a failed connect): by code or errno.
    const refusal = (l: Record<string, unknown>) => {
      const err = (l['err'] ?? {}) as { code?: unknown; errno?: unknown };
      return (
        [l['code'], l['cause'], err.code].some((c) => /USER_LIMIT|TOO_MANY_USER/.test(String(c))) ||
        [1226, 1203].includes(Number(err.errno))
      );
    };
    assert.deepEqual(cluster.logs.filter(refusal), []);
  });

  it('waits for an account that is at its limit at start-up (errno 1226) instead of giving up', async () => {
    const url = await createAccount(admin!, mariadb!.port, 'busy', 20);
    const holders = await Promise.all(Array.from({ length: 20 }, () => createConnection(url)));
    try {
      cluster = await startCluster(
        { WORKERS: '1', DB_RESERVED_CONNECTIONS: '2', DATABASE_URL: url },
        { waitForReady: false },
      );
      const retry = await cluster.waitForLog((l) => l.msg === 'database not reachable yet; retrying', 15_000);
      assert.equal(retry['code'], 'ER_USER_LIMIT_REACHED');
    } finally {
      await Promise.all(holders.map((c) => c.end().catch(() => c.destroy())));
    }
    await cluster.waitForLog((l) => l.msg === 'cluster ready', 20_000);
  });

  it('refuses to start when the account limit cannot fit, naming the account limit', async () => {
    const url = await createAccount(admin!, mariadb!.port, 'tiny', 3);
    cluster = await startCluster(
      { WORKERS: '2', DB_RESERVED_CONNECTIONS: '2', DATABASE_URL: url },
      { waitForReady: false },
    );
    const exit = await cluster.exitWithin(20_000);
    assert.ok(exit, 'the primary did not exit');
    assert.notEqual(exit.code, 0);
    const fatal = cluster.logs.find((l) => l.msg === 'cannot start');
    assert.ok(fatal, `no 'cannot start' line in ${JSON.stringify(cluster.logs.slice(-5))}`);
    const err = fatal['err'] as { type?: string; message?: string };
    assert.equal(err.type, 'BudgetError');
    assert.match(String(err.message), /max_user_connections_account=3/);
    assert.match(String(err.message), /MAX_USER_CONNECTIONS/);
    assert.deepEqual(
      cluster.logs.filter((l) => l.role === 'worker'),
      [],
      'no worker was forked',
    );
  });
});

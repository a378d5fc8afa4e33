import { strict as assert } from 'node:assert';
import { createConnection, type Connection } from 'mysql2/promise';
import type { ConnectionBudget } from '../../server/budget/connection-budget.js';
import { startCluster, type ClusterProcess, type LogLine } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { signUp } from '../helpers/sign-up.js';
import { globalStatus } from '../../harness/test-database.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';

/*
 * The connection budget end to end: a real cluster against a throwaway mariadbd with a small
 * connection limit. However hard the API is pushed, MySQL never sees more connections than the budget
 * allows, so it never answers 1040 "Too many connections"; the overflow is a 503 with Retry-After instead.
 */

interface LoadOutcome {
  readonly ok: number;
  readonly unavailable: number;
  /** Anything but 200 or 503-with-Retry-After, including connection errors. */
  readonly problems: string[];
}

/** `concurrency` keep-alive clients, each looping until `durationMs` is over (at most 100 requests each). */
async function drive(
  url: string,
  token: string,
  concurrency: number,
  durationMs: number,
  sleepSeconds: number,
): Promise<LoadOutcome> {
  const outcome = { ok: 0, unavailable: 0, problems: [] as string[] };
  const until = Date.now() + durationMs;
  const client = async (n: number) => {
    for (let i = 0; i < 100 && Date.now() < until; i++) {
      const path = (i + n) % 8 === 0 ? '/api/me' : `/test/db-sleep?seconds=${sleepSeconds}`;
      try {
        const res = await request(`${url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
        if (res.status === 200) outcome.ok++;
        else if (res.status === 503 && Number(res.headers.get('retry-after')) > 0) outcome.unavailable++;
        else outcome.problems.push(`${path} → ${res.status} retry-after=${res.headers.get('retry-after')} ${res.text}`);
      } catch (error) {
        outcome.problems.push(`${path} → ${String((error as { cause?: { code?: unknown } }).cause?.code ?? error)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, n) => client(n)));
  return outcome;
}

function budgetLine(cluster: ClusterProcess): LogLine & { budget: ConnectionBudget } {
  const line = cluster.logs.find((l) => l.msg === 'connection budget');
  assert.ok(line, 'the primary logs its budget decision');
  return line as LogLine & { budget: ConnectionBudget };
}

/** Why requests got a 503, from the workers' request lines ('acquire_timeout' is the pool's own deadline). */
async function failureCauses(cluster: ClusterProcess): Promise<Set<string>> {
  await cluster.stop(); // request lines are buffered; stopping flushes them
  return new Set(
    cluster.logs.filter((l) => l.msg === 'request' && Number(l['status']) >= 500).map((l) => String(l['cause'])),
  );
}

describe('connection budget against a real MariaDB limit', function () {
  this.timeout(60_000);
  let cluster: ClusterProcess | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  describe('mariadbd --max-connections=20', () => {
    let mariadb: ThrowawayMariadb | undefined;
    let admin: Connection | undefined;

    before(async () => {
      mariadb = await startThrowawayMariadb({ maxConnections: 20 });
      admin = await createConnection(mariadb.url);
    });

    after(async () => {
      await admin?.end().catch(() => admin?.destroy());
      await mariadb?.destroy();
    });

    it('4 workers × DB_POOL_MAX=50 share 20 − 5 connections: load gets 200 or 503, MySQL never refuses one', async () => {
      cluster = await startCluster({
        WORKERS: '4',
        DB_POOL_MAX: '50',
        DB_RESERVED_CONNECTIONS: '5',
        DATABASE_URL: mariadb!.url,
      });
      const { budget } = budgetLine(cluster);
      // floor((max_connections 20 − reserve 5 − 1 primary connection) / (1 replica × (4 workers + 1 reload surge))) = 2
      assert.deepEqual(
        {
          limit: budget.limit,
          limitSource: budget.limitSource,
          usable: budget.usable,
          perWorker: budget.perWorker,
          boundBy: budget.boundBy,
        },
        { limit: 20, limitSource: 'max_connections', usable: 14, perWorker: 2, boundBy: 'server_limit' },
      );
      assert.ok(budget.worstCaseConnections <= 20 - 5, `worst case ${budget.worstCaseConnections}`);
      const pools = cluster.logs.filter((l) => l.msg === 'worker ready').map((l) => l['poolMax']);
      assert.deepEqual(pools, [2, 2, 2, 2]);

      const { token } = await signUp(cluster.url, 'budget');
      await admin!.query('FLUSH STATUS'); // resets Max_used_connections to the connections open right now
      // 80 clients want 80 connections at once; the 4 pools have 8 between them.
      const outcome = await drive(cluster.url, token, 80, 3000, 0.3);

      assert.deepEqual(outcome.problems, []);
      assert.ok(outcome.ok > 20, `${outcome.ok} requests succeeded`);
      assert.ok(outcome.unavailable > 0, 'the load exceeded the pools, so some requests hit the acquire deadline');
      const maxUsed = await globalStatus(admin!, 'Max_used_connections');
      assert.ok(maxUsed <= 20 - 5, `Max_used_connections ${maxUsed} (this test's own connection included)`);
      assert.ok(maxUsed >= 4 * 2, `Max_used_connections ${maxUsed}: the pools were in use`);
      assert.ok(
        maxUsed <= budget.worstCaseConnections + 1,
        `Max_used_connections ${maxUsed} > worst case + this test's connection`,
      );
      assert.equal(await globalStatus(admin!, 'Connection_errors_max_connections'), 0, 'no errno 1040');
      assert.deepEqual(await failureCauses(cluster), new Set(['acquire_timeout']));
    });

    it('refuses, before forking, a configuration that cannot fit, naming the numbers and the variables', async () => {
      const started = Date.now();
      cluster = await startCluster(
        { WORKERS: '30', DB_RESERVED_CONNECTIONS: '10', DATABASE_URL: mariadb!.url },
        { waitForReady: false },
      );
      const exit = await cluster.exitWithin(15_000);
      assert.ok(exit, 'the primary did not exit');
      assert.notEqual(exit.code, 0);
      assert.ok(Date.now() - started < 10_000);

      const fatal = cluster.logs.find((l) => l.msg === 'cannot start');
      assert.ok(fatal, `no 'cannot start' line in ${JSON.stringify(cluster.logs)}`);
      const err = fatal['err'] as { type?: string; message?: string };
      assert.equal(err.type, 'BudgetError');
      // 20 − 10 − 1 = 9 connections for 30 + 1 pools.
      for (const part of [
        'max_connections=20',
        'DB_RESERVED_CONNECTIONS=10',
        'leaves 9 connections',
        'WORKERS=30',
        '31 pools',
      ]) {
        assert.ok(err.message?.includes(part), `"${part}" missing from: ${err.message}`);
      }
      assert.match(
        String(err.message),
        /Lower WORKERS, APP_REPLICAS or DB_RESERVED_CONNECTIONS, or raise MySQL's max_connections/,
      );
      assert.deepEqual(
        cluster.logs.filter((l) => l.role === 'worker'),
        [],
        'no worker was forked',
      );
    });
  });

  describe('mariadbd --max-connections=40 --max-user-connections=12', () => {
    let mariadb: ThrowawayMariadb | undefined;
    let admin: Connection | undefined;

    before(async () => {
      mariadb = await startThrowawayMariadb({ maxConnections: 40, extraArgs: ['--max-user-connections=12'] });
      admin = await createConnection(mariadb.url);
    });

    after(async () => {
      await admin?.end().catch(() => admin?.destroy());
      await mariadb?.destroy();
    });

    it('budgets against max_user_connections when it is the smaller limit', async () => {
      cluster = await startCluster({
        WORKERS: '2',
        DB_POOL_MAX: '50',
        DB_RESERVED_CONNECTIONS: '2',
        DATABASE_URL: mariadb!.url,
      });
      const line = budgetLine(cluster);
      assert.equal(line['maxConnections'], 40);
      assert.equal(line['maxUserConnections'], 12);
      // floor((12 − 2 − 1) / (2 + 1)) = 3
      assert.deepEqual(
        { limit: line.budget.limit, limitSource: line.budget.limitSource, perWorker: line.budget.perWorker },
        { limit: 12, limitSource: 'max_user_connections_global', perWorker: 3 },
      );
      assert.deepEqual(
        cluster.logs.filter((l) => l.msg === 'worker ready').map((l) => l['poolMax']),
        [3, 3],
      );

      const { token } = await signUp(cluster.url, 'budget');
      await admin!.query('FLUSH STATUS');
      const outcome = await drive(cluster.url, token, 40, 2000, 0.3);
      assert.deepEqual(outcome.problems, []);
      assert.ok(outcome.ok > 10 && outcome.unavailable > 0, `${outcome.ok} × 200, ${outcome.unavailable} × 503`);
      const maxUsed = await globalStatus(admin!, 'Max_used_connections');
      assert.ok(maxUsed <= 12 - 2, `Max_used_connections ${maxUsed}`);
      // Never ER_TOO_MANY_USER_CONNECTIONS (1203): the only reason for a 503 is the pool's own deadline.
      assert.deepEqual(await failureCauses(cluster), new Set(['acquire_timeout']));
    });
  });
});

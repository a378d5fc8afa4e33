import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection } from 'mysql2/promise';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { startMovingEndpoint, type MovingEndpoint } from '../../harness/moving-endpoint.js';
import { startReplicatedMariadb, type ReplicatedMariadb } from '../../harness/replicated-mariadb.js';
import { scrape, type Scrape } from '../../harness/scrape.js';

/*
 * The budget follows the server: after a switchover to a primary with other limits (here a smaller max_connections),
 * the pools are sized from the new primary's limits, with a fixed APP_REPLICAS and with APP_REPLICAS=auto, and
 * /metrics shows the server the service now writes to (mysql_global_variables_server_id, read_only 0) and counts the
 * failover it saw.
 *
 * WORKERS=2, DB_POOL_MAX=100, DB_RESERVED_CONNECTIONS=10:
 * - fixed: per worker = floor((max_connections − 10 reserved − 1 primary) / (2 workers + 1 reload surge)):
 *   151 → 46, 40 → 9;
 * - auto: the largest c with 1 + 3c ≤ max_connections − 10: 151 → 46, 40 → 9.
 */

const newMaxConnections = 40;

for (const replicas of ['1', 'auto'] as const) {
  describe(`failover: the budget follows the new primary's limits (APP_REPLICAS=${replicas})`, function () {
    this.timeout(120_000);
    let pair: ReplicatedMariadb | undefined;
    let endpoint: MovingEndpoint | undefined;
    let cluster: ClusterProcess | undefined;

    before(async () => {
      pair = await startReplicatedMariadb();
      endpoint = await startMovingEndpoint(pair.primary().port);
      cluster = await startCluster({
        WORKERS: '2',
        APP_REPLICAS: replicas,
        DB_POOL_MAX: '100',
        DB_RESERVED_CONNECTIONS: '10',
        DB_ACQUIRE_TIMEOUT_MS: '2000',
        DATABASE_URL: pair.appUrl(endpoint.port),
      });
    });
    after(async () => {
      await cluster?.stop();
      await endpoint?.close();
      await pair?.destroy();
    });

    const metrics = () => scrape(`http://127.0.0.1:${cluster!.metricsPort}/metrics`);
    const poolMax = (s: Scrape) => s.series('db_client_connection_max').map((x) => x.value);

    it('sizes the pools from the new primary after a switchover, and shows which server that is', async () => {
      const before = await metrics();
      assert.deepEqual(poolMax(before), [46, 46]);
      assert.equal(before.sum('mysql_global_variables_server_id'), 1);
      assert.equal(before.sum('db_failovers_seen_total'), 0);

      const next = pair!.replica();
      const admin = await createConnection(next.url);
      await admin.query(`SET GLOBAL max_connections = ${newMaxConnections}`);
      admin.destroy();
      const promoted = await pair!.switchover();
      endpoint!.moveTo(promoted.port);

      let after = await metrics();
      for (const giveUpAt = Date.now() + 20_000; Date.now() < giveUpAt; await sleep(250)) {
        after = await metrics();
        if (poolMax(after).every((max) => max === 9) && after.sum('db_pool_budget_per_worker_connections') === 9) break;
      }
      assert.deepEqual(poolMax(after), [9, 9], 'every pool sized from the new primary');
      assert.equal(after.sum('db_pool_budget_per_worker_connections'), 9);
      assert.equal(after.sum('db_pool_budget_limit_connections'), newMaxConnections);
      assert.equal(after.sum('mysql_global_variables_server_id'), 2);
      assert.equal(after.sum('mysql_global_variables_read_only'), 0);
      assert.equal(after.sum('db_failovers_seen_total'), 1);
    });
  });
}

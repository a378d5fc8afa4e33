import { strict as assert } from 'node:assert';
import { createConnection, type Connection } from 'mysql2/promise';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { scrape } from '../../harness/scrape.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { eventually } from '../helpers/in-process-replica.js';
import { figures } from './chaos-fixtures.js';

/*
 * Real clusters with APP_REPLICAS=auto on a throwaway MariaDB with room for one replica (max_connections 30, reserve
 * 23: 7 usable; a replica's smallest grant is 1 + 3 pools × 1 = 4, so the first gets 7 and a second does not fit). A second replica
 * waits at grant 0: not ready, so a load balancer leaves it out, while /metrics still says MySQL is up; it serves as
 * soon as the first leaves. And a replica stops within SHUTDOWN_TIMEOUT_MS whatever MySQL does: under FLUSH TABLES
 * WITH READ LOCK, and with the claims lock held by another session.
 */

const shutdownTimeoutMs = 3000;

describe('chaos: replicas beyond the room, and stopping whatever MySQL does (APP_REPLICAS=auto)', function () {
  this.timeout(120_000);
  let mariadb: ThrowawayMariadb;
  let admin: Connection;
  const clusters: ClusterProcess[] = [];
  const env = () => ({
    DATABASE_URL: mariadb.url,
    APP_REPLICAS: 'auto',
    WORKERS: '2',
    DB_POOL_MAX: '3',
    DB_RESERVED_CONNECTIONS: '23',
    SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
  });
  const status = async (cluster: ClusterProcess, path: string) =>
    (await fetch(`${cluster.url}${path}`, { signal: AbortSignal.timeout(5000) })).status;

  before(async () => {
    mariadb = await startThrowawayMariadb({ maxConnections: 30 });
  });
  after(async () => {
    await Promise.all(clusters.map((cluster) => cluster.stop(2000)));
    await admin?.end().catch(() => {});
    await mariadb?.destroy();
  });

  it('a replica with no room is not ready but reports MySQL up, and serves once the room frees', async () => {
    clusters.push(await startCluster(env()));
    const [first] = clusters;
    assert.equal(await status(first!, '/readyz'), 200);
    clusters.push(await startCluster(env()));
    const second = clusters[1]!;
    // It waited for a share it could not get, and forked its workers at ceiling 0.
    assert.equal(await status(second, '/readyz'), 503);
    assert.equal(await status(second, '/api/me'), 401, 'a request that needs no database is still answered');
    const metrics = await scrape(`http://127.0.0.1:${second.metricsPort}/metrics`);
    assert.equal(metrics.sum('mysql_up'), 1, 'a replica without a grant says MySQL is down');
    assert.equal(metrics.sum('db_pool_budget_granted_connections'), 0);
    await first!.stop();
    assert.ok(
      await eventually(async () => (await status(second, '/readyz')) === 200, 20_000),
      'the waiting replica never became ready once the room was free',
    );
    await Promise.all(clusters.splice(0).map((cluster) => cluster.stop()));
  });

  for (const fault of ['FLUSH TABLES WITH READ LOCK', 'the claims lock held by another session'] as const) {
    it(`SIGTERM exits within SHUTDOWN_TIMEOUT_MS under ${fault}`, async () => {
      const cluster = await startCluster(env());
      clusters.push(cluster);
      admin ??= await createConnection(mariadb.url);
      if (fault === 'FLUSH TABLES WITH READ LOCK') await admin.query('FLUSH TABLES WITH READ LOCK');
      else {
        await admin.query('START TRANSACTION');
        await admin.query('SELECT * FROM replica_claims_lock FOR UPDATE');
        await admin.query('SELECT * FROM replica_claims FOR UPDATE');
      }
      try {
        const signalAt = Date.now();
        cluster.child.kill('SIGTERM');
        const exit = await cluster.exitWithin(shutdownTimeoutMs + 2000);
        figures(`SIGTERM under ${fault}`, { exitedAfterMs: Date.now() - signalAt, code: exit?.code ?? 'running' });
        assert.ok(exit, `still running ${shutdownTimeoutMs + 2000} ms after SIGTERM`);
      } finally {
        await admin.query(fault === 'FLUSH TABLES WITH READ LOCK' ? 'UNLOCK TABLES' : 'ROLLBACK');
      }
    });
  }
});

import { strict as assert } from 'node:assert';
import { createConnection, type Connection } from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { scrape, type Scrape } from '../../harness/scrape.js';
import { signUp } from '../helpers/sign-up.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';

/*
 * SIGHUP re-reads MySQL's connection limits and recomputes the budget before the rolling reload: the new workers'
 * pools and the budget gauges follow a max_connections changed at runtime. A limit the budget cannot fit refuses the
 * reload, and the old workers keep serving with the old budget.
 *
 * WORKERS=2, DB_RESERVED_CONNECTIONS=20, DB_POOL_MAX=100 (so the server's limit bounds the pools):
 * per worker = floor((max_connections − 20 reserved − 1 primary) / (2 workers + 1 reload surge)).
 */

describe("SIGHUP recomputes the connection budget from MySQL's current limits", function () {
  this.timeout(90_000);
  let mariadb: ThrowawayMariadb | undefined;
  let admin: Connection | undefined;
  let cluster: ClusterProcess | undefined;

  before(async () => {
    mariadb = await startThrowawayMariadb({ maxConnections: 60 });
    admin = await createConnection(mariadb.url);
    cluster = await startCluster({
      WORKERS: '2',
      DB_POOL_MAX: '100',
      DB_RESERVED_CONNECTIONS: '20',
      DB_ACQUIRE_TIMEOUT_MS: '500',
      DB_QUERY_TIMEOUT_MS: '2000',
      DATABASE_URL: mariadb.url,
    });
  });

  after(async () => {
    await cluster?.stop();
    await admin?.end().catch(() => admin?.destroy());
    await mariadb?.destroy();
  });

  const metrics = () => scrape(`http://127.0.0.1:${cluster!.metricsPort}/metrics`);
  const poolMaxByWorker = (s: Scrape) =>
    Object.fromEntries(s.series('db_client_connection_max').map((x) => [x.labels['worker'], x.value]));
  const budgetGauges = (s: Scrape) => ({
    usable: s.sum('db_pool_budget_connections'),
    perWorker: s.sum('db_pool_budget_per_worker_connections'),
    limit: s.sum('db_pool_budget_limit_connections'),
  });
  const reloads = (s: Scrape, outcome: string) => s.sum('cluster_reloads_total', { outcome });

  it('sizes new workers and the budget gauges from the new max_connections, and refuses a reload the budget cannot fit', async () => {
    const c = cluster!;
    const { auth } = await signUp(c.url, 'sighup-budget');
    // floor((60 − 20 − 1) / 3) = 13
    let now = await metrics();
    assert.deepEqual(poolMaxByWorker(now), { '0': 13, '1': 13 });
    assert.deepEqual(budgetGauges(now), { usable: 39, perWorker: 13, limit: 60 });

    // Raised at runtime: floor((90 − 20 − 1) / 3) = 23.
    await admin!.query('SET GLOBAL max_connections = 90');
    const firstPids = c.readyWorkerPids().sort();
    let mark = c.logs.length;
    process.kill(c.child.pid!, 'SIGHUP');
    await c.waitForLog((l) => l.msg === 'rolling reload finished', 30_000, mark);
    const recomputed = c.logs.slice(mark).find((l) => l.msg === 'connection budget');
    assert.ok(recomputed, 'the primary logs the recomputed budget');
    now = await metrics();
    assert.deepEqual(poolMaxByWorker(now), { '0': 23, '1': 23 }, 'the new workers got the new budget');
    assert.deepEqual(budgetGauges(now), { usable: 69, perWorker: 23, limit: 90 });
    assert.equal(reloads(now, 'completed'), 1);
    const secondPids = c.readyWorkerPids().sort();
    assert.equal(secondPids.filter((pid) => firstPids.includes(pid)).length, 0, 'every worker was replaced');
    console.log(
      `      budget after raising max_connections 60 → 90: per worker 13 → 23, usable 39 → 69; pids ${firstPids} → ${secondPids}`,
    );

    // Lowered below what the budget can fit: 23 − 20 − 1 = 2 connections for 3 pools.
    await admin!.query('SET GLOBAL max_connections = 23');
    mark = c.logs.length;
    process.kill(c.child.pid!, 'SIGHUP');
    const refused = await c.waitForLog(
      (l) => l.msg === 'reload refused: the connection budget does not fit; the old workers keep serving',
      30_000,
      mark,
    );
    assert.match(
      String((refused['err'] as { message?: string } | undefined)?.message),
      /Connection budget too small: max_connections=23/,
    );
    // Give a wrongly started reload time to show itself.
    await sleep(1500);
    assert.equal(
      c.logs.slice(mark).filter((l) => l.msg === 'rolling reload started' || l.msg === 'worker ready').length,
      0,
      'no worker was started',
    );
    assert.deepEqual(c.readyWorkerPids().sort(), secondPids, 'the old workers keep serving');
    now = await metrics();
    assert.deepEqual(poolMaxByWorker(now), { '0': 23, '1': 23 });
    assert.deepEqual(
      budgetGauges(now),
      { usable: 69, perWorker: 23, limit: 90 },
      'the gauges keep the budget the workers run with',
    );
    assert.equal(reloads(now, 'refused'), 1);
    for (let i = 0; i < 4; i++) {
      const res = await request(`${c.url}/api/me`, { headers: auth });
      assert.equal(res.status, 200, res.text);
    }
    console.log(`      max_connections lowered to 23: reload refused, workers ${c.readyWorkerPids().sort()} kept`);
  });

  it('refuses the reload when MySQL stalls while its limits are read, within the deadline, and the old workers keep serving', async () => {
    const c = cluster!;
    const { auth } = await signUp(c.url, 'sighup-stall');
    await admin!.query('SET GLOBAL max_connections = 90');
    const pids = c.readyWorkerPids().sort();
    const mark = c.logs.length;
    const started = Date.now();
    mariadb!.signal('SIGSTOP');
    let refusedAfterMs: number;
    try {
      process.kill(c.child.pid!, 'SIGHUP');
      // DB_ACQUIRE_TIMEOUT_MS 500 × 2 to connect + DB_QUERY_TIMEOUT_MS 2000: 3 s, with room for a loaded machine.
      await c.waitForLog(
        (l) => l.msg === "reload refused: MySQL's connection limits could not be read; the old workers keep serving",
        20_000,
        mark,
      );
      refusedAfterMs = Date.now() - started;
    } finally {
      mariadb!.signal('SIGCONT');
    }
    assert.equal(
      c.logs.slice(mark).filter((l) => l.msg === 'rolling reload started' || l.msg === 'worker ready').length,
      0,
      'no worker was started',
    );
    assert.deepEqual(c.readyWorkerPids().sort(), pids, 'the old workers keep serving');
    const res = await request(`${c.url}/api/me`, { headers: auth });
    assert.equal(res.status, 200, res.text);
    const now = await metrics();
    assert.equal(reloads(now, 'refused'), 2);
    assert.deepEqual(budgetGauges(now), { usable: 69, perWorker: 23, limit: 90 });
    console.log(`      MySQL stopped (SIGSTOP) during SIGHUP: reload refused after ${refusedAfterMs} ms`);
  });
});

import assert from 'node:assert/strict';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { testDatabaseUrl } from '../../harness/test-database.js';

/*
 * The delay is long enough for the checks below to run inside it on a busy machine: each is a few requests, and
 * asserting that they all came before the delay ended is what shows the workers kept accepting through it.
 */
const readinessDelayMs = 4000;

describe('SHUTDOWN_READINESS_DELAY_MS', function () {
  this.timeout(60_000);
  let cluster: ClusterProcess;
  before(async () => {
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: testDatabaseUrl('app_test_readiness_delay'),
      SHUTDOWN_READINESS_DELAY_MS: String(readinessDelayMs),
      SHUTDOWN_TIMEOUT_MS: '12000',
    });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('fails readiness at once after SIGTERM but keeps serving new connections for the delay, then exits 0', async () => {
    assert.equal((await request(`${cluster.url}/readyz`)).status, 200);
    const mark = cluster.logs.length;
    const signalled = Date.now();
    cluster.child.kill('SIGTERM');
    // Both workers: a new connection may reach either.
    const first = await cluster.waitForLog((l) => l.msg === 'worker draining', 10_000, mark);
    await cluster.waitForLog((l) => l.msg === 'worker draining' && l.pid !== first.pid, 10_000, mark);

    // During the delay: the load balancer's health check sees 503, clients still get served.
    const ready = await request(`${cluster.url}/readyz`, { headers: { connection: 'close' } });
    assert.equal(ready.status, 503);
    assert.equal(ready.body['error'], 'shutting_down');
    for (let i = 0; i < 5; i++) {
      const fresh = await request(`${cluster.url}/healthz`, { headers: { connection: 'close' } });
      assert.equal(fresh.status, 200);
      assert.equal(fresh.headers.get('connection'), 'close', 'keep-alive clients are told to reconnect elsewhere');
    }
    assert.ok(Date.now() - signalled < readinessDelayMs, 'still inside the delay');

    const exit = await cluster.exitWithin(15_000);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - signalled >= readinessDelayMs, 'did not stop accepting before the delay ended');
    await assert.rejects(request(`${cluster.url}/healthz`), 'refused after exit');
  });
});

import assert from 'node:assert/strict';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { testDatabaseUrl } from '../../harness/test-database.js';

describe('hung worker', function () {
  this.timeout(30_000);
  let cluster: ClusterProcess;
  let stopped: number | undefined;
  before(async () => {
    cluster = await startCluster({ WORKERS: '2', DATABASE_URL: testDatabaseUrl('app_test_hung'), WORKER_HEARTBEAT_TIMEOUT_MS: '1000' });
  });
  after(async () => {
    if (stopped !== undefined) {
      try {
        process.kill(stopped, 'SIGCONT');
      } catch {
        // already gone: that is the point of the test
      }
    }
    await cluster?.stop();
  });

  it('is killed after missing heartbeats for WORKER_HEARTBEAT_TIMEOUT_MS and replaced in its slot', async () => {
    const victim = cluster.logs.find((line) => line.msg === 'worker ready' && line.worker === 1)!;
    stopped = Number(victim.pid);
    const mark = cluster.logs.length;
    const started = Date.now();
    process.kill(stopped, 'SIGSTOP');

    const missed = await cluster.waitForLog((line) => line.msg === 'worker missed its heartbeats; killing it', 5000, mark);
    assert.equal(missed['workerPid'], stopped);
    assert.equal(missed['slot'], 1);
    const detectedAfter = Date.now() - started;
    assert.ok(detectedAfter >= 900 && detectedAfter < 4000, `detected after ${detectedAfter} ms`);

    const replacement = await cluster.waitForLog((line) => line.msg === 'worker ready' && line.worker === 1, 10_000, mark);
    assert.notEqual(replacement.pid, stopped);
    assert.ok(Date.now() - started < 5000, 'replaced within a few seconds');
    // The stopped process is really gone, and the cluster serves.
    assert.throws(() => process.kill(stopped!, 0));
    for (let i = 0; i < 4; i++) assert.equal((await request(`${cluster.url}/healthz`, { headers: { connection: 'close' } })).status, 200);
  });
});

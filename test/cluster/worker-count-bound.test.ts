import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { lines, startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { scrape } from '../../harness/scrape.js';
import { testDatabaseUrl } from '../../harness/test-database.js';
import { childPids, sampleChildCount } from '../helpers/worker-processes.js';

/*
 * The connection budget pays for WORKERS + 1 pools per replica (the reload surge). Crashes that land in the middle of a
 * rolling reload must not leave an extra worker behind: the worker processes are counted from /proc (children of the
 * primary) throughout, and from the cluster_workers gauge once things settle.
 */

const workers = 2;
const env = {
  WORKERS: String(workers),
  DATABASE_URL: testDatabaseUrl('app_test_worker_bound'),
  SHUTDOWN_TIMEOUT_MS: '8000',
};

/** Waits (bounded) until the primary has exactly `count` live children; returns what it saw last. */
async function settleTo(cluster: ClusterProcess, count: number, timeoutMs = 10_000): Promise<number[]> {
  const giveUpAt = Date.now() + timeoutMs;
  let pids = childPids(cluster.child.pid!);
  while (pids.length !== count && Date.now() < giveUpAt) {
    await sleep(100);
    pids = childPids(cluster.child.pid!);
  }
  return pids;
}

async function assertSettled(cluster: ClusterProcess, before: readonly number[]): Promise<void> {
  const pids = await settleTo(cluster, workers);
  assert.equal(pids.length, workers, `worker processes after the reload: ${pids.join(', ')}`);
  assert.deepEqual(
    pids.filter((pid) => before.includes(pid)),
    [],
    'every worker was replaced',
  );
  const metrics = await scrape(`http://127.0.0.1:${cluster.metricsPort}/metrics`);
  assert.equal(metrics.sum('cluster_workers'), workers, 'cluster_workers counts every live worker');
  assert.equal(metrics.sum('cluster_workers', { state: 'ready' }), workers);
  // One pool per slot: two series for a slot would mean two workers hold connections for it.
  assert.deepEqual(
    metrics
      .series('db_client_connection_max')
      .map((s) => s.labels['worker'])
      .sort(),
    ['0', '1'],
  );
  assert.equal(cluster.child.exitCode, null, 'the primary is still running');
}

describe('never more than WORKERS + 1 worker processes (real cluster, crashes during a reload)', function () {
  this.timeout(60_000);
  let cluster: ClusterProcess | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('the old worker killed while its replacement starts: the crash restart and the reload do not both keep a worker', async () => {
    cluster = await startCluster(env);
    const c = cluster;
    const before = childPids(c.child.pid!);
    assert.equal(before.length, workers);
    const oldSlot0 = Number(
      lines(c, 'worker ready')
        .filter((l) => l.worker === 0)
        .at(-1)!.pid,
    );
    const sampler = sampleChildCount(c.child.pid!);
    const mark = c.logs.length;
    c.child.kill('SIGHUP');
    await c.waitForLog((l) => l.msg === 'rolling reload started', 5000, mark);
    process.kill(oldSlot0, 'SIGKILL');
    await c.waitForLog(
      (l) => l.msg === 'rolling reload finished' || String(l.msg).startsWith('reload aborted'),
      30_000,
      mark,
    );
    const pids = await settleTo(c, workers);
    const peak = sampler.stop();
    console.log(
      `      [lifecycle] peak ${peak.max} worker processes (${peak.samples} samples), ${pids.length} after the reload`,
    );
    assert.deepEqual(
      lines(c, 'worker died; restarting', mark).map((l) => l['workerPid']),
      [oldSlot0],
    );
    assert.ok(peak.max <= workers + 1, `${peak.max} worker processes at once (${peak.samples} samples)`);
    assert.equal(pids.length, workers, `worker processes after the reload: ${pids.join(', ')}`);
    await assertSettled(c, before);
  });

  it('the old worker hung (SIGSTOP) as the reload starts: its heartbeat kill and the reload do not both keep a worker', async () => {
    // Heartbeats time out about when the replacement is ready, so the kill lands before or after it takes the slot.
    cluster = await startCluster({ ...env, WORKER_HEARTBEAT_TIMEOUT_MS: '1000' });
    const c = cluster;
    const before = childPids(c.child.pid!);
    const oldSlot0 = Number(
      lines(c, 'worker ready')
        .filter((l) => l.worker === 0)
        .at(-1)!.pid,
    );
    const sampler = sampleChildCount(c.child.pid!);
    const mark = c.logs.length;
    try {
      process.kill(oldSlot0, 'SIGSTOP');
      c.child.kill('SIGHUP');
      await c.waitForLog(
        (l) => l.msg === 'rolling reload finished' || String(l.msg).startsWith('reload aborted'),
        30_000,
        mark,
      );
    } finally {
      if (childPids(c.child.pid!).includes(oldSlot0)) process.kill(oldSlot0, 'SIGCONT');
    }
    const pids = await settleTo(c, workers);
    const peak = sampler.stop();
    console.log(
      `      [lifecycle] peak ${peak.max} worker processes (${peak.samples} samples), ${pids.length} after the reload`,
    );
    assert.ok(peak.max <= workers + 1, `${peak.max} worker processes at once (${peak.samples} samples)`);
    assert.equal(pids.length, workers, `worker processes after the reload: ${pids.join(', ')}`);
    assert.equal(lines(c, 'rolling reload finished', mark).length, 1, 'the reload finished');
    assert.ok(!pids.includes(oldSlot0), 'the hung worker is gone');
    await assertSettled(c, before);
  });
});

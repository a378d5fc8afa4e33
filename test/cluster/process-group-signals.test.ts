import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { lines, startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { scrape } from '../../harness/scrape.js';
import { testDatabaseUrl } from '../../harness/test-database.js';
import { childPids } from '../helpers/worker-processes.js';

/*
 * Signals that reach the whole process group, not just the primary: a terminal hang-up or `systemctl kill -s HUP`
 * (SIGHUP to every process), and a paused host, container or VM (SIGSTOP to every process, then SIGCONT). The
 * primary runs in a process group of its own here, so the test can signal the group without signalling itself.
 */

const signalGroup = (cluster: ClusterProcess, signal: NodeJS.Signals) => process.kill(-cluster.child.pid!, signal);

describe('signals to the whole process group (real cluster)', function () {
  this.timeout(60_000);
  let cluster: ClusterProcess | undefined;

  afterEach(async () => {
    if (cluster?.child.exitCode === null) signalGroup(cluster, 'SIGCONT');
    await cluster?.stop();
    cluster = undefined;
  });

  it('SIGHUP to the group is one rolling reload: workers ignore it, no worker dies', async () => {
    cluster = await startCluster(
      { WORKERS: '2', DATABASE_URL: testDatabaseUrl('app_test_group_hup') },
      { detached: true },
    );
    const c = cluster;
    const before = childPids(c.child.pid!);
    const mark = c.logs.length;
    signalGroup(c, 'SIGHUP');
    await c.waitForLog((l) => l.msg === 'rolling reload finished', 20_000, mark);
    assert.deepEqual(lines(c, 'worker died; restarting', mark), []);
    const exits = lines(c, 'worker exited', mark);
    assert.deepEqual(
      exits.map((l) => [before.includes(Number(l['workerPid'])), l['code'], l['signal']]),
      [
        [true, 0, null],
        [true, 0, null],
      ],
      'the old workers drained and exited 0',
    );
    const after = childPids(c.child.pid!);
    assert.equal(after.length, 2);
    assert.deepEqual(
      after.filter((pid) => before.includes(pid)),
      [],
    );
    assert.equal(c.child.exitCode, null, 'the primary is still running');
  });

  it('a pause of the whole group longer than the heartbeat timeout kills no worker', async () => {
    const heartbeatTimeoutMs = 1000;
    cluster = await startCluster(
      {
        WORKERS: '3',
        DATABASE_URL: testDatabaseUrl('app_test_group_pause'),
        WORKER_HEARTBEAT_TIMEOUT_MS: String(heartbeatTimeoutMs),
      },
      { detached: true },
    );
    const c = cluster;
    const before = childPids(c.child.pid!).sort();
    assert.equal(before.length, 3);
    const mark = c.logs.length;
    signalGroup(c, 'SIGSTOP');
    await sleep(heartbeatTimeoutMs * 2.5);
    signalGroup(c, 'SIGCONT');
    // Several heartbeat periods after the resume: any wrongful kill would have happened by now.
    await sleep(heartbeatTimeoutMs * 3);
    console.log(
      `      [lifecycle] group paused ${heartbeatTimeoutMs * 2.5} ms: ${lines(c, 'worker missed its heartbeats; killing it', mark).length} heartbeat kills, primary noticed: ${JSON.stringify(lines(c, 'the primary was not running (paused?); worker deadlines moved by as long', mark).map((l) => l['lateMs']))}`,
    );
    assert.deepEqual(lines(c, 'worker missed its heartbeats; killing it', mark), []);
    assert.deepEqual(lines(c, 'worker died; restarting', mark), []);
    assert.deepEqual(childPids(c.child.pid!).sort(), before, 'the same workers still run');
    const metrics = await scrape(`http://127.0.0.1:${c.metricsPort}/metrics`);
    assert.equal(metrics.sum('cluster_workers', { state: 'ready' }), 3);
    assert.equal(c.child.exitCode, null, 'the primary is still running');
  });
});

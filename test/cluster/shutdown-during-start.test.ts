import { strict as assert } from 'node:assert';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, lines, startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { freePort } from '../../harness/free-port.js';
import { repoRoot } from '../../harness/repo-root.js';
import { testDatabaseUrl } from '../../harness/test-database.js';
import { childPids } from '../helpers/worker-processes.js';

/*
 * Shutdown wins over everything in progress: SIGTERM while workers are still starting — at start-up, during a rolling
 * reload, during a crash restart — drains them like the others. The primary exits 0 well before SHUTDOWN_TIMEOUT_MS,
 * nothing is killed at the deadline and no worker process outlives it.
 */

const shutdownTimeoutMs = 8000;
const env = {
  WORKERS: '2',
  DATABASE_URL: testDatabaseUrl('app_test_shutdown_start'),
  SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
};

/** Every worker pid the primary has had, polled until `until` resolves. */
async function watchChildren(cluster: ClusterProcess, seen: Set<number>, until: Promise<unknown>): Promise<void> {
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    for (const pid of childPids(cluster.child.pid!)) seen.add(pid);
    await sleep(10);
  }
}

async function sigtermAndExpectCleanExit(cluster: ClusterProcess, seen: Set<number>, what: string): Promise<void> {
  const signalledAt = Date.now();
  cluster.child.kill('SIGTERM');
  const exit = await cluster.exitWithin(shutdownTimeoutMs + 4000);
  const tookMs = Date.now() - signalledAt;
  console.log(
    `      [lifecycle] SIGTERM ${what}: exit ${JSON.stringify(exit)} after ${tookMs} ms, ${seen.size} worker processes seen`,
  );
  // Before the deadline, nobody killed: the primary exits 1 after killing stragglers at SHUTDOWN_TIMEOUT_MS. (How long
  // it took is in the line above; a starting worker's start and drain take seconds on a busy machine.)
  assert.deepEqual(exit, { code: 0, signal: null }, `exit after ${tookMs} ms`);
  assert.deepEqual(lines(cluster, 'shutdown deadline reached; killing stragglers'), []);
  assert.deepEqual(lines(cluster, 'drain deadline reached; closing remaining connections'), []);
  assert.ok(seen.size > 0);
  await sleep(200);
  assert.deepEqual([...seen].filter(isAlive), [], 'no worker outlives the primary');
}

describe('SIGTERM while workers are starting (real cluster)', function () {
  this.timeout(60_000);
  let cluster: ClusterProcess | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('during start-up: the starting workers drain and the primary exits 0', async () => {
    cluster = await startCluster(env, { waitForReady: false });
    const c = cluster;
    const seen = new Set<number>();
    const giveUpAt = Date.now() + 15_000;
    while (childPids(c.child.pid!).length < 2 && Date.now() < giveUpAt) await sleep(5);
    assert.equal(lines(c, 'cluster ready').length, 0, 'still starting');
    const watching = watchChildren(c, seen, c.exited);
    await sigtermAndExpectCleanExit(c, seen, 'during start-up');
    await watching;
  });

  it('as soon as SIGHUP’s reload has forked its new worker: that worker drains too', async () => {
    cluster = await startCluster(env);
    const c = cluster;
    const before = childPids(c.child.pid!);
    const seen = new Set<number>();
    const watching = watchChildren(c, seen, c.exited);
    c.child.kill('SIGHUP');
    // The reload reads MySQL's limits first, then forks: SIGTERM right after the fork, while the new worker starts.
    const giveUpAt = Date.now() + 15_000;
    while (!childPids(c.child.pid!).some((pid) => !before.includes(pid)) && Date.now() < giveUpAt) await sleep(5);
    assert.ok(
      childPids(c.child.pid!).some((pid) => !before.includes(pid)),
      'the reload forked its new worker',
    );
    await sigtermAndExpectCleanExit(c, seen, 'right after the reload forked');
    await watching;
    assert.ok(seen.size >= 3, 'the reload had forked its new worker');
  });

  it('during a crash restart: the restarted worker drains too', async () => {
    cluster = await startCluster(env);
    const c = cluster;
    const before = childPids(c.child.pid!);
    const seen = new Set<number>();
    const watching = watchChildren(c, seen, c.exited);
    process.kill(before[0]!, 'SIGKILL');
    const giveUpAt = Date.now() + 15_000;
    while (!childPids(c.child.pid!).some((pid) => !before.includes(pid)) && Date.now() < giveUpAt) await sleep(5);
    assert.ok(
      childPids(c.child.pid!).some((pid) => !before.includes(pid)),
      'the restart was forked',
    );
    await sigtermAndExpectCleanExit(c, seen, 'during a crash restart');
    await watching;
  });
});

/*
 * A signal that the primary catches as its start ends, in the moment its drain takes over from "a signal ends the
 * start": it must still end the service. (It was forgotten: the primary went on, logged "cluster ready" and kept
 * serving.) The moment is hit from inside, by a module the primary loads first (test/helpers/signal-on-listen.ts): it
 * signals the primary as /metrics starts listening, the last step before the drain is in place.
 */
describe('a signal as the primary finishes starting (real cluster)', function () {
  this.timeout(60_000);
  let cluster: ClusterProcess | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} as /metrics starts listening ends the service, and no worker outlives it`, async () => {
      const metricsPort = await freePort();
      cluster = await startCluster(
        {
          ...env,
          METRICS_PORT: String(metricsPort),
          NODE_OPTIONS: `--require ${resolve(repoRoot, 'dist/test/helpers/signal-on-listen.js')}`,
          SIGNAL_ON_LISTEN_PORT: String(metricsPort),
          SIGNAL_ON_LISTEN: signal,
        },
        { waitForReady: false },
      );
      const c = cluster;
      const seen = new Set<number>();
      const ended = c.exitWithin(shutdownTimeoutMs + 10_000);
      await watchChildren(c, seen, ended);
      const exit = await ended;
      // Handled as a stop (a drain, exit 0), or, had it come a moment earlier, as the end of the start (by the signal).
      assert.ok(
        exit !== undefined && (exit.code === 0 || exit.signal === signal),
        `the primary ended: ${JSON.stringify(exit)}\n${c.logs.map((l) => l.msg).join('\n')}`,
      );
      assert.deepEqual(lines(c, 'shutdown deadline reached; killing stragglers'), []);
      await sleep(200);
      assert.deepEqual([...seen].filter(isAlive), [], 'no worker outlives the primary');
    });
  }
});

import { strict as assert } from 'node:assert';
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { send } from '../../harness/traffic.js';
import { figures, isAlive, lines, timeOf } from './chaos-fixtures.js';

/*
 * Crash loop: another process holds the API port, so every worker dies at start (EADDRINUSE) while the
 * primary itself is healthy. The primary restarts them with exponential backoff (100 ms, doubling), and on the
 * fifth crash within 30 s gives up: it logs why, leaves no worker behind and exits non-zero, instead of spinning.
 * (test/cluster/cluster-lifecycle.test.ts checks the give-up; this one measures the delays and the time to give up.)
 */

describe('chaos: crash loop (every worker dies at start)', function () {
  this.timeout(60_000);
  let mariadb: ThrowawayMariadb | undefined;
  let cluster: ClusterProcess | undefined;
  let squatter: Server | undefined;

  before(async () => {
    mariadb = await startThrowawayMariadb();
  });

  after(async () => {
    await cluster?.stop();
    await new Promise<void>((resolve) => (squatter?.listening ? squatter.close(() => resolve()) : resolve()));
    await mariadb?.destroy();
  });

  it('backs off exponentially, then exits non-zero with a clear log line', async () => {
    squatter = createNetServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter!.listen(0, '127.0.0.1', resolve));
    const { port } = squatter.address() as AddressInfo;
    const startedAt = Date.now();
    cluster = await startCluster(
      { WORKERS: '2', DATABASE_URL: mariadb!.url, PORT: String(port) },
      { waitForReady: false },
    );
    const c = cluster;
    // Five crashes within the policy's 30 s window, each a worker start (seconds each on a busy machine) after a backoff.
    const exit = await c.exitWithin(45_000);
    const exitedAt = Date.now();
    assert.ok(exit, 'the primary kept restarting workers instead of giving up');

    const budgetAt = timeOf(c.logs.find((l) => l.msg === 'connection budget')!);
    const failed = lines(c, 'worker failed to start');
    const died = lines(c, 'worker died; restarting');
    const fatal = c.logs.find((l) => l.level === 60 && l.role === 'primary');
    // Observed delay: a worker's death → its replacement's own failure (the delay plus one worker start).
    const observed = died.map((d) => {
      const next = failed.find((f) => f.worker === d['slot'] && timeOf(f) > timeOf(d));
      return next ? timeOf(next) - timeOf(d) : NaN;
    });
    const starts = failed.map((f) => timeOf(f));
    const metricsAfterExit = await send(`http://127.0.0.1:${c.metricsPort}`, { path: '/metrics' }, { timeoutMs: 2000 });

    figures('crash loop', {
      crashes: failed.length,
      loggedBackoffMs: died.map((l) => l['restartInMs']),
      observedRestartMs: observed,
      workerStartMs: observed.slice(0, 3).map((ms, i) => ms - Number(died[i]!['restartInMs'])),
      firstCrashAfterBudgetMs: (starts[0] ?? NaN) - budgetAt,
      giveUpAfterFirstCrashMs: timeOf(fatal!) - (starts[0] ?? NaN),
      exitAfterSpawnMs: exitedAt - startedAt,
      exitCode: exit.code,
      fatal: fatal?.msg,
    });

    // Every worker died of the real fault, and the primary said why it stopped.
    assert.ok(
      failed.every((l) => /EADDRINUSE/.test(String((l['err'] as { message?: unknown } | undefined)?.message))),
      'all EADDRINUSE',
    );
    assert.equal(fatal?.msg, 'workers are crash-looping; the primary is giving up instead of restarting them again');
    assert.equal(fatal?.['recentCrashes'], 5);
    assert.deepEqual(exit, { code: 1, signal: null });
    assert.equal(lines(c, 'cluster ready').length, 0);
    // Backoff: 100 ms doubling per crash in the window, and no restart happened before its delay.
    assert.deepEqual(
      died.map((l) => l['restartInMs']),
      [100, 200, 400, 800],
    );
    observed.slice(0, 3).forEach((ms, i) => {
      assert.ok(ms >= Number(died[i]!['restartInMs']), `restart ${i} after ${ms} ms`);
    });
    // Giving up cancels every restart still pending then: none of them started a worker. (Which slot's crash is the
    // fifth depends on how long each worker takes to fail, so the pending one is found, not assumed.)
    died.forEach((d, i) => {
      if (timeOf(d) + Number(d['restartInMs']) > timeOf(fatal!)) {
        assert.ok(Number.isNaN(observed[i]), `restart ${i} was pending when the primary gave up, yet it ran`);
      }
    });
    assert.ok(
      died.every((d) => timeOf(d) <= timeOf(fatal!)),
      'no restart was scheduled after giving up',
    );
    // It did not spin: exactly the crashes the policy allows, no fork after giving up, no worker left alive.
    // The primary counted five crashes (recentCrashes above) and scheduled four restarts. The other slot's worker,
    // forked before the give-up and failing the same way at the same moment, may still log its own failure: one more
    // line at most, and nothing forked after that.
    assert.equal(died.length, 4);
    assert.ok(failed.length === 5 || failed.length === 6, `${failed.length} workers failed to start`);
    assert.ok(failed.filter((l) => timeOf(l) > timeOf(fatal!)).length <= 1, 'a worker started after giving up');
    assert.ok(
      failed.every((l) => !isAlive(Number(l.pid))),
      'no worker left behind',
    );
    // How soon it gave up is the backoffs (1.5 s in all) plus five worker starts, seconds each on a busy machine: a
    // figure (giveUpAfterFirstCrashMs). That it gave up at the fifth crash and forked nothing after is asserted above.
    // Its /metrics port closed with it.
    assert.equal(metricsAfterExit.error, 'ECONNREFUSED');
  });
});

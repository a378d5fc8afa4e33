import { strict as assert } from 'node:assert';
import { isAlive, lines, startCluster, type ClusterProcess, type LogLine } from '../../harness/cluster-process.js';
import { testDatabaseUrl } from '../../harness/test-database.js';
import { childPids } from '../helpers/worker-processes.js';

/*
 * Every wait has a deadline: a worker asked to stop that has not exited SHUTDOWN_TIMEOUT_MS later is killed, so a
 * worker stopped with SIGSTOP cannot hold a rolling reload (nor the next one) forever. The heartbeat timeout is long
 * here so that the stop deadline, not the heartbeat, is what ends the hung worker.
 */

const shutdownTimeoutMs = 3000;
const timeOf = (line: LogLine): number => Date.parse(String(line['time']));

describe('a hung worker during a rolling reload (real cluster)', function () {
  this.timeout(60_000);
  let cluster: ClusterProcess | undefined;
  let stopped: number | undefined;

  after(async () => {
    if (stopped !== undefined && isAlive(stopped)) process.kill(stopped, 'SIGCONT');
    await cluster?.stop();
  });

  it('is killed SHUTDOWN_TIMEOUT_MS after it was asked to stop; the reload finishes and the next SIGHUP works', async () => {
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: testDatabaseUrl('app_test_stuck_reload'),
      SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
      WORKER_HEARTBEAT_TIMEOUT_MS: '60000',
    });
    const c = cluster;
    const before = childPids(c.child.pid!);
    stopped = Number(
      lines(c, 'worker ready')
        .filter((l) => l.worker === 0)
        .at(-1)!.pid,
    );
    const mark = c.logs.length;
    process.kill(stopped, 'SIGSTOP');
    c.child.kill('SIGHUP');

    const finished = await c.waitForLog((l) => l.msg === 'rolling reload finished', shutdownTimeoutMs + 20_000, mark);
    const replacement = lines(c, 'worker ready', mark).find((l) => l.worker === 0)!;
    const killed = lines(c, 'worker did not stop in time; killing it', mark);
    console.log(
      `      [lifecycle] hung worker killed ${timeOf(killed[0] ?? finished) - timeOf(replacement)} ms after its stop request; reload finished ${timeOf(finished) - timeOf(lines(c, 'rolling reload started', mark)[0]!)} ms after it started`,
    );
    assert.deepEqual(
      killed.map((l) => l['workerPid']),
      [stopped],
    );
    // Asked to stop when its replacement took the slot; killed no earlier than the deadline after that.
    assert.ok(
      timeOf(killed[0]!) - timeOf(replacement) >= shutdownTimeoutMs - 50,
      `killed ${timeOf(killed[0]!) - timeOf(replacement)} ms after the stop request`,
    );
    assert.ok(timeOf(finished) >= timeOf(killed[0]!));
    assert.ok(!isAlive(stopped), 'the hung worker is gone');
    assert.deepEqual(lines(c, 'worker died; restarting', mark), [], 'a worker killed while stopping is not a crash');

    const second = c.logs.length;
    c.child.kill('SIGHUP');
    await c.waitForLog((l) => l.msg === 'rolling reload finished', 20_000, second);
    assert.deepEqual(lines(c, 'reload already in progress; ignoring this one', mark), []);
    const after = childPids(c.child.pid!);
    assert.equal(after.length, 2, `worker processes: ${after.join(', ')}`);
    assert.deepEqual(
      after.filter((pid) => before.includes(pid)),
      [],
      'every original worker was replaced',
    );
    assert.equal(c.child.exitCode, null, 'the primary is still running');
  });
});

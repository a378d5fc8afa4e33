import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { lines, startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { testDatabaseUrl } from '../../harness/test-database.js';

/*
 * How the API port listens: the backlog the kernel was given (HTTP_LISTEN_BACKLOG, capped by net.core.somaxconn),
 * which sockets there are and which processes hold each one (HTTP_ACCEPT), read from the kernel itself with `ss`: for
 * a listening socket its Send-Q column is the backlog, `ino:` names the socket and `users:` lists every holder.
 */

const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

interface ListeningSocket {
  readonly inode: number;
  readonly backlog: number;
  /** Every process holding the socket. */
  readonly pids: number[];
}

function listeners(port: number): ListeningSocket[] {
  const out = execFileSync('ss', ['-Hltnpe', `sport = :${port}`], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const columns = line.trim().split(/\s+/);
      return {
        inode: Number(/ino:(\d+)/.exec(line)?.[1]),
        backlog: Number(columns[2]),
        pids: [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])).sort((a, b) => a - b),
      };
    });
}

const inodes = (sockets: readonly ListeningSocket[]) => sockets.map((s) => s.inode).sort((a, b) => a - b);

describe('the API listening socket', function () {
  this.timeout(60_000);
  let cluster: ClusterProcess | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('by default: 16 sockets of its own per worker (reuseport), each also held by the primary, with a 4096 backlog', async () => {
    cluster = await startCluster({ WORKERS: '2', DATABASE_URL: testDatabaseUrl('app_test_listen') });
    const sockets = listeners(cluster.port);
    const primary = cluster.child.pid!;
    const workers = cluster.readyWorkerPids();
    assert.equal(sockets.length, 32, JSON.stringify(sockets));
    for (const worker of workers)
      assert.equal(
        sockets.filter((s) => s.pids.includes(worker)).length,
        16,
        `worker ${worker} holds 16 sockets: ${JSON.stringify(sockets)}`,
      );
    assert.ok(
      sockets.every((s) => s.pids.length === 2 && s.pids.includes(primary)),
      `each socket is held by its worker and the primary: ${JSON.stringify(sockets)}`,
    );
    assert.ok(
      sockets.every((s) => s.backlog === Math.min(4096, somaxconn)),
      JSON.stringify(sockets),
    );
    assert.equal((await request(`${cluster.url}/healthz`)).status, 200);
  });

  it('HTTP_ACCEPT=primary: one socket, held by the primary (it accepts and hands connections over)', async () => {
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: testDatabaseUrl('app_test_listen'),
      HTTP_ACCEPT: 'primary',
      HTTP_LISTEN_BACKLOG: '1000',
    });
    const sockets = listeners(cluster.port);
    assert.equal(sockets.length, 1, JSON.stringify(sockets));
    assert.deepEqual(sockets[0]!.pids, [cluster.child.pid]);
    assert.equal(sockets[0]!.backlog, Math.min(1000, somaxconn));
    assert.equal((await request(`${cluster.url}/healthz`)).status, 200);
  });

  it("a worker's replacement takes over the same sockets, after a crash and in a rolling reload; the stop closes them", async () => {
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: testDatabaseUrl('app_test_listen'),
      HTTP_LISTENERS_PER_WORKER: '4',
    });
    const c = cluster;
    const before = listeners(c.port);
    assert.equal(before.length, 8, JSON.stringify(before));
    const [victim] = c.readyWorkerPids();
    const victimSockets = inodes(before.filter((s) => s.pids.includes(victim!)));
    assert.equal(victimSockets.length, 4);

    // A crash: while the slot has no worker its sockets stay open in the primary, lent to the other worker, which
    // accepts on them until the restart is ready and takes them.
    const survivor = c.readyWorkerPids().find((pid) => pid !== victim)!;
    let mark = c.logs.length;
    process.kill(victim!, 'SIGKILL');
    let lent = false;
    const lentBacklogs = new Set<number>();
    const watching = (async () => {
      while (lines(c, 'worker ready', mark).length === 0) {
        const held = listeners(c.port).filter((s) => victimSockets.includes(s.inode));
        const nowLent = held.length === 4 && held.every((s) => s.pids.includes(survivor));
        if (nowLent) for (const s of held) lentBacklogs.add(s.backlog);
        lent ||= nowLent;
        await sleep(20);
      }
    })();
    const restarted = await c.waitForLog((l) => l.msg === 'worker ready', 20_000, mark);
    await watching;
    assert.ok(lent, "the survivor held the crashed worker's sockets while its slot had none");
    // Taking a socket over keeps its backlog: listen(2) on a listening socket sets it again, and Node's default for a
    // handle is 511.
    const backlog = Math.min(4096, somaxconn);
    assert.deepEqual([...lentBacklogs], [backlog], 'the backlog while lent');
    // The lender takes them back once the restart is ready: each socket is the primary's and one worker's again.
    let afterCrash = listeners(c.port);
    for (let attempt = 0; attempt < 100 && !afterCrash.every((s) => s.pids.length === 2); attempt++) {
      await sleep(20);
      afterCrash = listeners(c.port);
    }
    assert.deepEqual(inodes(afterCrash), inodes(before), 'no socket was closed or opened');
    assert.deepEqual(inodes(afterCrash.filter((s) => s.pids.includes(Number(restarted.pid)))), victimSockets);
    assert.ok(
      afterCrash.every((s) => s.pids.length === 2),
      `each socket is held by the primary and one worker: ${JSON.stringify(afterCrash)}`,
    );
    assert.ok(
      afterCrash.every((s) => s.backlog === backlog),
      `the backlog after the restart: ${JSON.stringify(afterCrash)}`,
    );

    // A rolling reload: every new worker takes its slot's sockets; none is closed under its queue.
    mark = c.logs.length;
    c.child.kill('SIGHUP');
    await c.waitForLog((l) => l.msg === 'rolling reload finished', 30_000, mark);
    const afterReload = listeners(c.port);
    assert.deepEqual(inodes(afterReload), inodes(before), 'no socket was closed or opened');
    const renewed = c.readyWorkerPids();
    assert.equal(renewed.length, 2);
    for (const worker of renewed)
      assert.equal(afterReload.filter((s) => s.pids.includes(worker)).length, 4, JSON.stringify(afterReload));
    assert.ok(
      afterReload.every((s) => s.backlog === backlog),
      `the backlog after the reload: ${JSON.stringify(afterReload)}`,
    );
    // New connections, each hashed by the kernel to one of the 8 sockets: every one is answered.
    const answers = await Promise.all(Array.from({ length: 40 }, () => request(`${c.url}/healthz`)));
    assert.ok(
      answers.every((answer) => answer.status === 200),
      JSON.stringify(answers.map((answer) => answer.status)),
    );
    await c.stop();
    assert.deepEqual(listeners(c.port), []);
  });
});

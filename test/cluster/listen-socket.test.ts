import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { testDatabaseUrl } from '../../harness/test-database.js';

/*
 * How the API port listens: the backlog the kernel was given (HTTP_LISTEN_BACKLOG, capped by net.core.somaxconn)
 * and who holds the listening sockets (HTTP_ACCEPT), read from the kernel itself with `ss`: for a listening socket
 * its Send-Q column is the backlog.
 */

const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

function listeners(port: number): { backlog: number; pid: number }[] {
  const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const columns = line.trim().split(/\s+/);
      return { backlog: Number(columns[2]), pid: Number(/pid=(\d+)/.exec(line)?.[1]) };
    });
}

describe('the API listening socket', function () {
  this.timeout(30_000);
  let cluster: ClusterProcess | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('by default: one socket, held by the primary (it accepts and hands connections over), with a 4096 backlog', async () => {
    cluster = await startCluster({ WORKERS: '2', DATABASE_URL: testDatabaseUrl('app_test_listen') });
    const sockets = listeners(cluster.port);
    assert.equal(sockets.length, 1, JSON.stringify(sockets));
    assert.equal(sockets[0]!.pid, cluster.child.pid);
    assert.equal(sockets[0]!.backlog, Math.min(4096, somaxconn));
    assert.equal((await request(`${cluster.url}/healthz`)).status, 200);
  });

  it('HTTP_ACCEPT=reuseport: a socket per worker, each with HTTP_LISTEN_BACKLOG', async () => {
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: testDatabaseUrl('app_test_listen'),
      HTTP_ACCEPT: 'reuseport',
      HTTP_LISTEN_BACKLOG: '1000',
    });
    const sockets = listeners(cluster.port);
    assert.deepEqual(sockets.map((s) => s.pid).sort(), cluster.readyWorkerPids().sort());
    assert.ok(
      sockets.every((s) => s.backlog === Math.min(1000, somaxconn)),
      JSON.stringify(sockets),
    );
    assert.equal((await request(`${cluster.url}/healthz`)).status, 200);
  });

  it('HTTP_LISTENERS_PER_WORKER=4: four sockets per worker, all of them served, all closed by the drain', async () => {
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: testDatabaseUrl('app_test_listen'),
      HTTP_ACCEPT: 'reuseport',
      HTTP_LISTENERS_PER_WORKER: '4',
    });
    const sockets = listeners(cluster.port);
    const pids = cluster.readyWorkerPids();
    assert.deepEqual(sockets.map((s) => s.pid).sort(), [...pids, ...pids, ...pids, ...pids].sort());
    // New connections, each hashed by the kernel to one of the 8 sockets: every one is answered.
    const answers = await Promise.all(Array.from({ length: 40 }, () => request(`${cluster!.url}/healthz`)));
    assert.ok(
      answers.every((answer) => answer.status === 200),
      JSON.stringify(answers.map((answer) => answer.status)),
    );
    await cluster.stop();
    assert.deepEqual(listeners(cluster.port), []);
  });
});

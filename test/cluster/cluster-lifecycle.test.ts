import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { lines, startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { signUp } from '../helpers/sign-up.js';
import { codeOf } from '../../harness/traffic.js';
import { request } from '../../harness/http-client.js';
import { freshDatabase, testConnection, testDatabaseUrl } from '../../harness/test-database.js';

/*
 * The real cluster (`node dist/server/main.js`) as a child process with 2 workers on the machine's MariaDB:
 * serving, restart after kill -9, SIGTERM drain, SIGHUP rolling reload and the crash-loop give-up.
 */

const database = 'app_test_cluster';
const shutdownTimeoutMs = 8000;
const env = { WORKERS: '2', DATABASE_URL: testDatabaseUrl(database), SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) };

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request on a fresh TCP connection (no keep-alive pool), so each one is a new `accept` in the primary. */
function rawRequest(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Sends `count` requests on fresh connections with known request ids; returns the worker pids that answered. */
async function answeringPids(cluster: ClusterProcess, count: number, token: string): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < count; i++) {
    const id = `lifecycle-${randomUUID()}`;
    const path = i % 2 === 0 ? '/healthz' : '/api/me';
    const res = await rawRequest(`${cluster.url}${path}`, { headers: { 'X-Request-Id': id, Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, `${path}: ${res.body}`);
    const line = await cluster.waitForLog((l) => l.msg === 'request' && l['requestId'] === id, 5000);
    pids.add(Number(line.pid));
  }
  return pids;
}



describe('cluster lifecycle (real child process, 2 workers)', function () {
  let cluster: ClusterProcess | undefined;

  before(async () => {
    (await freshDatabase(testConnection(database))).destroy();
  });

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('starts workers with libuv\'s thread pool sized for their hashes plus two', async () => {
    cluster = await startCluster({ ...env, WORKERS: '1', PASSWORD_HASH_CONCURRENCY: '6' });
    const [pid] = cluster.readyWorkerPids();
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes('UV_THREADPOOL_SIZE=8'), environ.filter((v) => v.startsWith('UV_')).join() || 'UV_THREADPOOL_SIZE unset');
  });

  it('two workers with distinct pids serve health checks and the register/login/me flow', async () => {
    cluster = await startCluster(env);
    const ready = lines(cluster, 'worker ready');
    assert.equal(ready.length, 2);
    assert.deepEqual(new Set(ready.map((l) => l.worker)), new Set([0, 1]));
    const pids = new Set(ready.map((l) => Number(l.pid)));
    assert.equal(pids.size, 2);
    assert.ok(!pids.has(cluster.child.pid!), 'workers are separate processes from the primary');

    assert.equal((await request(`${cluster.url}/healthz`)).status, 200);
    const { email, token } = await signUp(cluster.url, 'cluster');
    const me = await request(`${cluster.url}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body['email'], email);
    // New connections are spread over both workers, and the session works on either.
    assert.deepEqual(await answeringPids(cluster, 8, token), pids);
  });

  it('restarts a worker killed with SIGKILL, and traffic keeps succeeding', async () => {
    cluster = await startCluster(env);
    const { token } = await signUp(cluster.url, 'cluster');
    const [victim, survivor] = cluster.readyWorkerPids();
    assert.ok(victim && survivor);
    const mark = cluster.logs.length;
    process.kill(victim, 'SIGKILL');

    const died = await cluster.waitForLog((l) => l.msg === 'worker died; restarting' && l['workerPid'] === victim, 5000, mark);
    assert.equal(died['signal'], 'SIGKILL');
    const reborn = await cluster.waitForLog((l) => l.msg === 'worker ready' && l.pid !== survivor, 10_000, mark);
    assert.notEqual(reborn.pid, victim);
    assert.equal(reborn.worker, died['slot'], 'the replacement takes the dead worker’s slot');
    assert.deepEqual(new Set(cluster.readyWorkerPids()), new Set([survivor, Number(reborn.pid)]));
    assert.deepEqual(await answeringPids(cluster, 8, token), new Set([survivor, Number(reborn.pid)]));
    assert.equal(cluster.child.exitCode, null, 'the primary is still running');
  });

  it('SIGTERM drains an in-flight slow request, refuses new connections and exits 0', async () => {
    cluster = await startCluster(env);
    const started = Date.now();
    // fetch keeps its connection alive, as a real client would: the drain must not wait for it to idle out.
    const inFlight = request(`${cluster.url}/test/db-sleep?seconds=2`).then((res) => ({ res, at: Date.now() }));
    inFlight.catch(() => {}); // awaited below; this only keeps an early assertion failure from also reporting it unhandled
    await sleep(300);
    const sigtermAt = Date.now();
    cluster.child.kill('SIGTERM');
    const exited = cluster.exited.then((exit) => ({ ...exit, at: Date.now() }));

    // Once every worker stopped listening, the primary closes the listening socket: new connections are refused.
    // (A connection that races the last worker's close is parked by node:cluster until the primary exits.)
    await cluster.waitForLog((l) => l.msg === 'worker draining' && l.worker === 0, 5000);
    await cluster.waitForLog((l) => l.msg === 'worker draining' && l.worker === 1, 5000);
    await sleep(200);
    const refused = await rawRequest(`${cluster.url}/healthz`).then(
      (r) => `answered ${r.status}`,
      (error: unknown) => codeOf(error),
    );
    const refusedAt = Date.now();
    assert.equal(refused, 'ECONNREFUSED');
    const { res, at: answeredAt } = await inFlight;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { slept: 2 });
    assert.ok(refusedAt < answeredAt, 'new connections were refused while the slow request was still running');
    assert.ok(answeredAt - started >= 2000);

    const exit = await exited;
    assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null });
    const drainMs = exit.at - sigtermAt;
    assert.ok(drainMs < shutdownTimeoutMs - 1000, `drained in ${drainMs} ms, before any shutdown deadline`);
    // The in-flight request's keep-alive socket is closed after its response: the worker does not idle until a deadline.
    assert.ok(exit.at - answeredAt < 5000, `exited ${exit.at - answeredAt} ms after the last response`);
    assert.equal(lines(cluster, 'worker drained').length, 2);
    assert.equal(lines(cluster, 'all workers drained').length, 1);
    assert.deepEqual(lines(cluster, 'drain deadline reached; closing remaining connections'), []);
    await assert.rejects(rawRequest(`${cluster.url}/healthz`), (error: unknown) => codeOf(error) === 'ECONNREFUSED');
  });

  it('SIGHUP replaces every worker, one at a time, without failing a request', async function () {
    this.timeout(45_000);
    cluster = await startCluster(env);
    const { token } = await signUp(cluster.url, 'cluster');
    const before = cluster.readyWorkerPids();
    assert.equal(before.length, 2);

    // 4 keep-alive clients loop over /healthz and /api/me (bounded in time and count) while the reload runs.
    let stop = false;
    const failures: string[] = [];
    let succeeded = 0;
    const giveUpAt = Date.now() + 30_000;
    const loop = async (n: number) => {
      for (let i = 0; i < 5000 && !stop && Date.now() < giveUpAt; i++) {
        const path = (i + n) % 2 === 0 ? '/healthz' : '/api/me';
        try {
          const res = await request(`${cluster!.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
          if (res.status === 200) succeeded++;
          else failures.push(`${path} → ${res.status} ${res.text}`);
        } catch (error) {
          failures.push(`${path} → ${codeOf(error)}`);
        }
      }
    };
    const loops = Promise.all([0, 1, 2, 3].map(loop));
    const mark = cluster.logs.length;
    try {
      await sleep(300);
      cluster.child.kill('SIGHUP');
      await cluster.waitForLog((l) => l.msg === 'rolling reload finished', 25_000, mark);
      await sleep(300);
    } finally {
      stop = true;
      await loops;
    }

    assert.deepEqual(failures, []);
    assert.ok(succeeded > 100, `only ${succeeded} requests completed during the reload`);
    const after = cluster.readyWorkerPids();
    assert.equal(after.length, 2);
    assert.deepEqual(after.filter((pid) => before.includes(pid)), [], 'every worker was replaced');
    const exitedOld = lines(cluster, 'worker exited', mark).filter((l) => before.includes(Number(l['workerPid'])));
    assert.deepEqual(exitedOld.map((l) => l['code']), [0, 0], 'old workers drained and exited cleanly');
    assert.deepEqual(lines(cluster, 'worker died; restarting', mark), []);
  });

  it('gives up on a crash loop: backs off, logs why and exits non-zero', async function () {
    this.timeout(20_000);
    // Another process holds the API port, so every worker fails to listen (EADDRINUSE) while the primary itself is fine.
    const squatter = createNetServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const { port } = squatter.address() as AddressInfo;
    const started = Date.now();
    cluster = await startCluster({ ...env, PORT: String(port) }, { waitForReady: false });
    const exit = await cluster.exitWithin(15_000).finally(() => squatter.close());
    assert.ok(exit, 'the primary kept restarting workers instead of giving up');
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 10_000, `gave up after ${elapsed} ms`);
    assert.notEqual(exit.code, 0);

    const failures = lines(cluster, 'worker failed to start');
    assert.ok(failures.length >= 5, `${failures.length} workers failed to start`);
    assert.ok(failures.every((l) => /EADDRINUSE/.test(String((l['err'] as { message?: unknown } | undefined)?.message))));
    const restarts = lines(cluster, 'worker died; restarting').map((l) => Number(l['restartInMs']));
    assert.ok(restarts.length >= 3, `restarts: ${restarts.join(', ')}`);
    assert.ok(restarts.every((ms, i) => i === 0 || ms > restarts[i - 1]!), `restart delays grow: ${restarts.join(', ')}`);
    const fatal = cluster.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('workers are crash-looping'));
    assert.ok(fatal, 'the primary logs why it gives up');
    assert.equal(lines(cluster, 'cluster ready').length, 0);
  });
});

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { lines, startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { everyPathBy, pathsByPid } from '../helpers/answering-pids.js';
import { signUp } from '../helpers/sign-up.js';
import { request } from '../../harness/http-client.js';
import { freshDatabase, testConnection, testDatabaseUrl } from '../../harness/test-database.js';

/*
 * The real cluster (`node dist/server/main.js`) as a child process with 2 workers on the machine's MariaDB:
 * its workers' environment, and serving on both workers. What happens to it under signals, kills and crashes is
 * test/chaos/.
 */

const database = 'app_test_cluster';
const env = { WORKERS: '2', DATABASE_URL: testDatabaseUrl(database) };

describe('cluster lifecycle (real child process, 2 workers)', () => {
  let cluster: ClusterProcess | undefined;

  before(async () => {
    (await freshDatabase(testConnection(database))).destroy();
  });

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it("starts workers with libuv's thread pool sized for their hashes plus two", async () => {
    cluster = await startCluster({ ...env, WORKERS: '1', PASSWORD_HASH_CONCURRENCY: '6' });
    const [pid] = cluster.readyWorkerPids();
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.ok(
      environ.includes('UV_THREADPOOL_SIZE=8'),
      environ.filter((v) => v.startsWith('UV_')).join() || 'UV_THREADPOOL_SIZE unset',
    );
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
    assert.deepEqual(await pathsByPid(cluster, [...pids], token), everyPathBy([...pids]));
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { testDatabaseUrl } from '../../harness/test-database.js';
import { warnLoudly } from './repo-files.js';

/*
 * The Kubernetes pod runs with a read-only root filesystem. The cluster is traced with strace through what a pod's life
 * asks of it (start with migrations, registrations, logins, a metrics scrape, a rolling reload, SIGTERM) and must not
 * open any file for writing nor create, rename or remove one. /dev, /proc and /sys are mounts of their own in a pod.
 */

const fileSyscalls =
  'openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,truncate,link,linkat,symlink,symlinkat';

/** The syscalls in an strace log that write to the filesystem, paths under /dev, /proc and /sys excepted. */
function filesystemWrites(log: string): string[] {
  return log.split('\n').filter((line) => {
    const call = /^\d+\s+(\w+)\((.*)$/.exec(line);
    if (call === null || / = -1 /.test(line)) return false;
    const [, name, rest] = call as unknown as [string, string, string];
    const path = /"([^"]*)"/.exec(rest)?.[1] ?? '';
    if (/^\/(dev|proc|sys)\//.test(path)) return false;
    return name.startsWith('open') ? /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/.test(rest) : true;
  });
}

describe('filesystem writes (for a read-only root filesystem)', function () {
  this.timeout(90_000);
  let cluster: ClusterProcess | undefined;
  let primaryPid = 0;
  const traceDir = mkdtempSync(join(tmpdir(), 'strace-'));
  const traceFile = join(traceDir, 'trace.log');

  before(async function () {
    const probe = spawnSync('strace', ['-f', '-o', '/dev/null', 'true'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      warnLoudly(
        `strace cannot trace here (${probe.error?.message ?? probe.stderr.trim()}): writes to the filesystem were NOT checked. \`apt-get install strace\`.`,
      );
      this.skip();
    }
    cluster = await startCluster(
      {
        NODE_ENV: 'production',
        ENABLE_TEST_ROUTES: 'false',
        WORKERS: '2',
        DATABASE_URL: testDatabaseUrl('app_test_read_only_fs'),
      },
      { wrapper: ['strace', '-f', '-qq', '-o', traceFile, '-e', `trace=${fileSyscalls}`] },
    );
    primaryPid = Number(cluster.logs.find((line) => line.role === 'primary')?.pid);
    assert.ok(primaryPid > 0, 'the primary logs its pid');
  });

  after(async () => {
    if (cluster !== undefined && cluster.child.exitCode === null) {
      try {
        process.kill(primaryPid, 'SIGKILL');
      } catch {
        // already gone
      }
      await cluster.stop(2000);
    }
    rmSync(traceDir, { recursive: true, force: true });
  });

  it('writes no file from start to exit: migrations, requests, a scrape, a rolling reload and SIGTERM', async () => {
    const c = cluster!;
    const email = `ro-${Date.now()}@example.com`;
    const password = 'correct horse battery staple';
    assert.equal(
      (await request(`${c.url}/api/users`, { method: 'POST', json: { email, name: 'Read Only', password } })).status,
      201,
    );
    const login = await request(`${c.url}/api/login`, { method: 'POST', json: { email, password } });
    assert.equal(login.status, 200);
    assert.equal(
      (await request(`${c.url}/api/me`, { headers: { authorization: `Bearer ${String(login.body['token'])}` } }))
        .status,
      200,
    );
    assert.equal((await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).status, 200);
    const mark = c.logs.length;
    process.kill(primaryPid, 'SIGHUP');
    await c.waitForLog((line) => line.msg === 'rolling reload finished', 30_000, mark);
    process.kill(primaryPid, 'SIGTERM');
    const exit = await c.exitWithin(20_000);
    assert.deepEqual(exit, { code: 0, signal: null });

    const log = readFileSync(traceFile, 'utf8');
    assert.ok(/openat\(.*dist\/server\/main\.js/.test(log), 'the trace saw the app load its own code');
    assert.deepEqual(filesystemWrites(log), []);
  });
});

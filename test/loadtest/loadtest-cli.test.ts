import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Result } from '../../loadtest/report/summary.js';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { freePort } from '../../harness/free-port.js';
import { request } from '../../harness/http-client.js';
import { promtoolLint, scrape } from '../../harness/scrape.js';
import { freshDatabase, testConnection, testDatabaseUrl } from '../../harness/test-database.js';
import { repoRoot } from '../../harness/repo-root.js';

/*
 * a short smoke run of the compiled load tester (dist/loadtest/cli/loadtest.js) against a real
 * cluster: the JSON result, the exit codes CI relies on, the live metrics it serves, Ctrl-C.
 */

const cli = resolve(__dirname, '../../loadtest/cli/loadtest.js');
const database = 'app_test_loadtest';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(
  args: readonly string[],
  during?: (child: ReturnType<typeof spawn>, stderr: () => string, stdout: () => string) => Promise<void>,
): Promise<Run> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  return (async () => {
    if (during)
      await during(
        child,
        () => stderr,
        () => stdout,
      );
    const code = await exited;
    clearTimeout(timer);
    return { code, stdout, stderr };
  })();
}

describe('npm run loadtest (the Node load tester)', function () {
  this.timeout(40_000);
  let cluster: ClusterProcess;
  let dir: string;
  let credentials: string;
  let common: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loadtest-cli-'));
    const admin = await freshDatabase(testConnection(database));
    await admin.end();
    cluster = await startCluster({ WORKERS: '2', DATABASE_URL: testDatabaseUrl(database) });
    const users = [0, 1, 2].map((i) => ({
      email: `user${i}@loadtest.example`,
      password: `loadtest-password-${i % 2}`,
    }));
    for (const user of users) {
      const created = await request(`${cluster.url}/api/users`, {
        method: 'POST',
        json: { ...user, name: 'Load Test' },
      });
      assert.equal(created.status, 201, created.text);
    }
    credentials = join(dir, 'credentials.json');
    writeFileSync(credentials, JSON.stringify(users));
    common = [
      '--url',
      cluster.url,
      '--metrics-url',
      `http://127.0.0.1:${cluster.metricsPort}/metrics`,
      '--credentials',
      credentials,
    ];
  });
  after(async () => {
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const readResult = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Result;

  it('runs a scenario, serves loadtest_* metrics while running, and reports sane figures (exit 0)', async () => {
    const out = join(dir, 'mixed.json');
    const metricsPort = await freePort();
    let exposition = '';
    const run = await runCli(
      [
        '--scenario',
        'mixed',
        '--connections',
        '8',
        '--duration',
        '3',
        '--threshold-p95-ms',
        '60000',
        '--min-success',
        '0.99',
        '--metrics-port',
        String(metricsPort),
        '--scrape-interval',
        '0s',
        '--out',
        out,
        ...common,
      ],
      async () => {
        // While it runs: its own /metrics, once a request has been counted.
        for (let i = 0; i < 40 && !/loadtest_requests_total\{/.test(exposition); i++) {
          await sleep(100);
          exposition = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
            (r) => r.text(),
            () => '',
          );
        }
      },
    );
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    // A generated run id, printed at the start and carried by every loadtest_* series.
    const runId = /run id (\S+)/.exec(run.stderr)?.[1];
    assert.ok(runId, run.stderr);
    assert.match(
      exposition,
      new RegExp(`^loadtest_requests_total\\{run_id="${runId}",scenario="mixed",name="me",status="200"\\} \\d+`, 'm'),
    );
    assert.match(
      exposition,
      new RegExp(
        `^loadtest_request_duration_seconds_bucket\\{le="[\\d.]+",run_id="${runId}",scenario="mixed",name="me"\\} \\d+`,
        'm',
      ),
    );
    assert.match(exposition, new RegExp(`^loadtest_active_connections\\{run_id="${runId}"\\} [1-9]\\d*$`, 'm'));
    assert.deepEqual(promtoolLint(exposition) ?? [], [], 'promtool check metrics (skipped when promtool is absent)');
    // The live line: elapsed, req/s, p95, errors, the server's pool.
    assert.match(run.stderr, /\[\s*\d+s\]\s+\d+ req\/s\s+p95 [\d.]+ ms .*errors none\s+pool \d+\/\d+ pending \d+/);
    assert.match(run.stdout, /PASSED/);

    const result = readResult(out);
    assert.equal(result.scenario, 'mixed');
    assert.equal(result.runId, runId);
    assert.equal(result.model, 'closed');
    assert.equal(result.stoppedBy, 'duration');
    assert.ok(result.elapsedSeconds >= 3, String(result.elapsedSeconds));
    assert.ok(result.totalRequests > 0);
    assert.equal(result.successRate, 1);
    assert.equal(result.failedRequests, 0);
    assert.ok(
      Object.values(result.errors).every((n) => n === 0),
      JSON.stringify(result.errors),
    );
    const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    assert.equal(sum(result.statusCounts), result.totalRequests);
    for (const latency of [result.latencyMs, ...Object.values(result.byName).map((n) => n.latencyMs)]) {
      const order = [latency.p50, latency.p90, latency.p95, latency.p99, latency.max];
      assert.ok(latency.p50 > 0 && order.every((v, i) => i === 0 || v >= order[i - 1]!), JSON.stringify(latency));
    }
    assert.ok(result.byName['me'] && result.byName['me'].requests > 0);
    assert.equal(
      sum(Object.fromEntries(Object.values(result.byName).map((n, i) => [i, n.requests]))),
      result.totalRequests,
    );
    assert.ok(result.requestsPerSecond > 0);
    // The server side, from the cluster's /metrics.
    const cluster_ = await scrape(`http://127.0.0.1:${cluster.metricsPort}/metrics`);
    assert.ok(result.server.scrapes >= 2, JSON.stringify(result.server));
    assert.ok((result.server.peakThreadsConnected ?? 0) > 0);
    assert.equal(result.server.budgetConnections, cluster_.sum('db_pool_budget_connections'));
    assert.equal(result.server.poolMax, cluster_.sum('db_client_connection_max'));
    assert.ok(result.thresholds.length === 2 && result.thresholds.every((t) => t.ok) && result.passed);
  });

  it('open model (--rate); exits 1 when a threshold fails; tolerates an unreachable --metrics-url', async () => {
    const out = join(dir, 'strict.json');
    const unreachable = `http://127.0.0.1:${await freePort()}/metrics`;
    const args = [
      '--scenario',
      'me',
      '--rate',
      '200',
      '--connections',
      '4',
      '--duration',
      '1.5',
      '--threshold-p95-ms',
      '0.001',
      '--metrics-port',
      '0',
      '--out',
      out,
    ];
    const run = await runCli([...args, ...common, '--metrics-url', unreachable]);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /FAIL\s+p95 of all requests/);
    assert.match(run.stderr, /pool n\/a/);
    const result = readResult(out);
    assert.equal(result.passed, false);
    assert.equal(result.successRate, 1);
    assert.equal(result.sessions, 3);
    // 200 arrivals/s for 1.5 s, each one GET /api/me on one of 4 connections, or dropped when all are busy.
    assert.equal(result.model, 'open');
    assert.ok(
      Math.abs(result.iterations + result.droppedIterations - 300) <= 30,
      `${result.iterations} + ${result.droppedIterations} dropped`,
    );
    assert.equal(result.totalRequests, result.iterations);
    assert.deepEqual(
      result.thresholds.map((t) => t.ok),
      [false, true],
    );
    assert.equal(result.server.scrapes, 0);
    assert.equal(result.server.peakThreadsConnected, null);
    assert.match(String(result.server.lastScrapeError), /ECONNREFUSED/);
  });

  it('stops early on SIGINT and still reports', async () => {
    const out = join(dir, 'interrupted.json');
    const started = Date.now();
    const run = await runCli(
      [
        '--scenario',
        'login',
        '--connections',
        '2',
        '--duration',
        '60',
        '--min-success',
        '0.5',
        '--threshold-p95-ms',
        '60000',
        '--metrics-port',
        '0',
        '--out',
        out,
        ...common,
      ],
      async (child, stderr) => {
        // Once the run is live (a live line is out), not during start-up.
        for (let i = 0; i < 100 && !/\[\s*\d+s\]/.test(stderr()); i++) await sleep(100);
        child.kill('SIGINT');
      },
    );
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.ok(Date.now() - started < 10_000);
    const result = readResult(out);
    assert.equal(result.stoppedBy, 'signal');
    assert.ok(result.totalRequests > 0);
    assert.deepEqual(Object.keys(result.byName).sort(), ['login', 'logout', 'me']);
  });

  it('--out - writes the JSON to stdout and the summary to stderr; durations like 2s', async () => {
    const run = await runCli([
      '--scenario',
      'me',
      '--connections',
      '2',
      '--duration',
      '2s',
      '--threshold-p95-ms',
      '60000',
      '--metrics-port',
      '0',
      '--out',
      '-',
      ...common,
    ]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const result = JSON.parse(run.stdout) as Result;
    assert.equal(result.durationSeconds, 2);
    assert.ok(result.totalRequests > 0 && result.passed);
    assert.match(run.stderr, /PASSED/);
    assert.doesNotMatch(run.stderr, /result written/);
  });

  it('keeps its exporter up one scrape interval after the run, with the final counts under --run-id', async () => {
    const metricsPort = await freePort();
    const url = `http://127.0.0.1:${metricsPort}/metrics`;
    let afterSummary = '';
    const run = await runCli(
      [
        '--scenario',
        'me',
        '--connections',
        '2',
        '--duration',
        '1s',
        '--threshold-p95-ms',
        '60000',
        '--metrics-port',
        String(metricsPort),
        '--scrape-interval',
        '3s',
        '--run-id',
        'smoke-7',
        '--out',
        '-',
        ...common,
      ],
      async (_child, _stderr, stdout) => {
        // Once the JSON result is out, the run is over: the exporter must still answer, with the final values.
        for (let i = 0; i < 200 && !stdout().trimEnd().endsWith('}'); i++) await sleep(50);
        afterSummary = await fetch(url).then(
          (r) => r.text(),
          (error: unknown) => `unreachable: ${String(error)}`,
        );
      },
    );
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stderr, /run id smoke-7/);
    const result = JSON.parse(run.stdout) as Result;
    assert.equal(result.runId, 'smoke-7');
    const counted = [...afterSummary.matchAll(/^loadtest_requests_total\{run_id="smoke-7",[^}]*\} (\d+)$/gm)].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
    assert.equal(counted, result.totalRequests, afterSummary);
    assert.match(run.stderr, /serving loadtest_\* metrics for 3 s more/);
    // And then it exits by itself, its port closed.
    await assert.rejects(fetch(url));
  });

  it("a Ctrl-C while the exporter waits for its last scrape ends the wait, with the result's exit code", async () => {
    const metricsPort = await freePort();
    const started = Date.now();
    const run = await runCli(
      [
        '--scenario',
        'me',
        '--connections',
        '1',
        '--duration',
        '1s',
        '--threshold-p95-ms',
        '60000',
        '--metrics-port',
        String(metricsPort),
        '--scrape-interval',
        '10m',
        '--out',
        '-',
        ...common,
      ],
      async (child, stderr) => {
        for (let i = 0; i < 200 && !/serving loadtest_\* metrics for 600 s more/.test(stderr()); i++) await sleep(50);
        child.kill('SIGINT');
      },
    );
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.ok((JSON.parse(run.stdout) as Result).passed);
    assert.ok(Date.now() - started < 20_000); // far from the 10 minutes it would otherwise wait
  });

  it('--version, and the bin entry that runs the compiled CLI', async () => {
    const pkg = JSON.parse(readFileSync(resolve(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
      bin: Record<string, string>;
    };
    const version = await runCli(['--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), `mysql-budget-loadtest ${pkg.version}`);
    const bin = pkg.bin['mysql-budget-loadtest'];
    assert.equal(bin, 'dist/loadtest/cli/loadtest.js');
    assert.equal(resolve(repoRoot, bin), cli);
    assert.match(readFileSync(cli, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  });

  it('exits 2 on usage errors and on a missing credentials file', async () => {
    const bad = [
      [],
      ['--scenario', 'browse', '--connections', '1', '--duration', '1'],
      ['--scenario', 'me', '--connections', 'many', '--duration', '1'],
      ['--scenario', 'me', '--connections', '1'],
      ['--scenario', 'me', '--connections', '1', '--duration', '1', '--min-success', '1.5'],
      ['--scenario', 'me', '--connections', '1', '--duration', '1', '--rate'],
      ['--scenario', 'me', '--connections', '1', '--duration', '1', '--bogus', 'x'],
      ['--scenario', 'me', '--connections', '1', '--duration', '1', 'extra'],
      ['--scenario', 'me', '--connections', '1', '--duration', '1', '--url', 'ftp://x'],
      ['--scenario', 'me', '--connections', '1', '--duration', '30x'],
      ['--scenario', 'me', '--connections', '1', '--duration', '1', '--scrape-interval', 'soon'],
      ['--scenario', 'me', '--connections', '1', '--duration', '1', '--run-id', 'has space'],
    ];
    const runs = await Promise.all(bad.map((args) => runCli(args)));
    runs.forEach((run, i) => {
      assert.equal(run.code, 2, `${bad[i]!.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /usage: npm run loadtest/);
    });
    const missing = await runCli([
      '--scenario',
      'me',
      '--connections',
      '1',
      '--duration',
      '1',
      '--credentials',
      join(dir, 'nope.json'),
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /not found: run `npm run seed -- --users N`/);
  });
});

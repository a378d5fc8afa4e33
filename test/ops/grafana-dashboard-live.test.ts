import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestName } from '../../loadtest/engine/scenario-spec.js';
import { LoadtestMetrics } from '../../loadtest/report/loadtest-metrics.js';
import { freePort } from '../../harness/free-port.js';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { startPrometheus, testPrometheusConfig, type PrometheusServer } from '../helpers/prometheus-server.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { externalSource, grafanaRegexValue, metricNamesIn } from './promql-names.js';
import {
  onlyK6,
  prometheusAnnotations,
  ruleRecordNames,
  targets,
  variableQuery,
  withVariables,
} from './dashboard-fixture.js';

/*
 * Grafana cannot run here, so the dashboard is proven live instead: every panel target's PromQL, both annotations and
 * the template variables run against a real Prometheus that scraped a real cluster (and the load tester's exporter).
 */

describe('the Grafana dashboard, live: every panel query against a real Prometheus scraping a real cluster', function () {
  this.timeout(90_000);
  let mariadb: ThrowawayMariadb | undefined;
  let cluster: ClusterProcess | undefined;
  let prometheus: PrometheusServer | undefined;
  let loadtestPort = 0;
  let instance = '';
  let traffic: Promise<void> | undefined;
  let driving = true;

  // The Node load tester's own exporter (prometheus.yml's job "loadtest"), recording the real requests this test
  // sends: the one scenario's label is `dashboard`, and each request counts under the load tester's name for it.
  let open = 0;
  const loadtestMetrics = new LoadtestMetrics('dashboard', () => open, 'dashboard-test');
  async function call(name: RequestName, path: string, init: Parameters<typeof request>[1] = {}) {
    const started = performance.now();
    open++;
    try {
      const response = await request(`${cluster!.url}${path}`, init);
      loadtestMetrics.observe(name, String(response.status), (performance.now() - started) / 1000);
      return response;
    } catch (error) {
      loadtestMetrics.observe(name, 'error', undefined);
      throw error;
    } finally {
      open--;
    }
  }
  const user = { email: 'dashboard@example.com', password: 'dashboard-pass', name: 'Dashboard' };
  async function round(i: number): Promise<void> {
    const login = await call('login', '/api/login', {
      method: 'POST',
      json: { email: user.email, password: user.password },
    });
    await call('me', '/api/me', { headers: { authorization: `Bearer ${String(login.body['token'])}` } });
    await call('me', `/no/such/page/${i}`);
    // 2 connections per worker, 300 ms deadline: a burst of 0.5 s holds makes some requests time out (503).
    if (i % 8 === 0) await Promise.all(Array.from({ length: 6 }, () => call('me', '/test/db-sleep?seconds=0.5')));
  }

  before(async function () {
    this.timeout(60_000);
    const started = Date.now();
    mariadb = await startThrowawayMariadb({ maxConnections: 60 });
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: mariadb.url,
      DB_POOL_MAX: '2',
      DB_RESERVED_CONNECTIONS: '5',
      DB_ACQUIRE_TIMEOUT_MS: '300',
      DB_MAX_IDLE: '0',
      DB_IDLE_TIMEOUT_MS: '1000',
    });
    loadtestPort = await freePort();
    assert.equal(await loadtestMetrics.serve(loadtestPort), undefined);
    const app = `127.0.0.1:${cluster.metricsPort}`;
    instance = app;
    prometheus = await startPrometheus({
      configYaml: (self) =>
        testPrometheusConfig({
          targets: { app, prometheus: `${self.host}:${self.port}`, loadtest: `127.0.0.1:${loadtestPort}` },
        }),
    });
    assert.equal((await call('login', '/api/users', { method: 'POST', json: user })).status, 201);
    // Background load, never asserted on: the last test SIGKILLs a worker, and a request in flight on it then fails
    // ("other side closed"), which must not surface as an unhandled rejection before after() awaits this.
    traffic = (async () => {
      for (let i = 0; driving && i < 5000; i++) await round(i);
    })().catch(() => undefined);
    // At least 3 scrapes of every job, and the burst's timeouts seen, before any panel is judged.
    const ready = [
      'count by (job) (count_over_time(up[1m]) >= 3)',
      'sum(increase(db_client_connection_timeouts_total[1m])) > 0',
    ];
    for (let waited = 0; ; waited += 500) {
      const results = await Promise.all(ready.map((expr) => prometheus!.query(expr)));
      if (results[0]!.length === 3 && results[1]!.length === 1) break;
      assert.ok(waited < 30_000, `Prometheus not ready: ${JSON.stringify(results)}\n${prometheus.logTail()}`);
      await sleep(500);
    }
    console.log(`      (cluster, MariaDB, Prometheus and traffic ready in ${Date.now() - started} ms)`);
  });

  after(async () => {
    driving = false;
    await traffic?.catch(() => undefined);
    await prometheus?.stop();
    await loadtestMetrics.close();
    await cluster?.stop();
    await mariadb?.destroy();
  });

  it('scrapes the app, itself and the load tester with the jobs of prometheus/prometheus.yml', async () => {
    const health = (await prometheus!.targets()).map((t) => `${t.labels['job']}=${t.health}`).sort();
    assert.deepEqual(health, ['app=up', 'loadtest=up', 'prometheus=up']);
  });

  it("uses only metric names the app exposes, or Prometheus's, the load tester's or k6's", async () => {
    const text = await (await fetch(`http://${instance}/metrics`)).text();
    const exposed = new Set<string>();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exposed.add(name!);
      if (type === 'histogram' || type === 'summary')
        for (const suffix of ['_bucket', '_count', '_sum']) exposed.add(name! + suffix);
    }
    const recorded = new Set(ruleRecordNames());
    for (const target of targets) {
      const { metrics, recordings } = metricNamesIn(withVariables(target.expr));
      for (const name of metrics)
        assert.ok(exposed.has(name) || externalSource(name), `${target.where}: ${name} is not in the app's exposition`);
      for (const name of recordings)
        assert.ok(recorded.has(name), `${target.where}: recording rule ${name} is not in prometheus/rules`);
    }
  });

  it('resolves the instance and worker variables to the test instance and both workers', async () => {
    const values = async (name: string) => {
      const [, selector, label] = /^label_values\((.+),\s*(\w+)\)$/.exec(
        withVariables(variableQuery(name), grafanaRegexValue([instance])),
      )!;
      return (await prometheus!.query(`count by (${label}) (${selector})`)).map((s) => s.metric[label!]).sort();
    };
    assert.deepEqual(await values('instance'), [instance]);
    assert.deepEqual(await values('worker'), ['0', '1']);
  });

  it('returns data for every panel target (variables substituted)', async () => {
    const live = targets.filter((t) => !onlyK6(t.expr));
    console.log(
      `      k6-only targets, not checked live (no k6 here):\n${targets
        .filter((t) => onlyK6(t.expr))
        .map((t) => `        ${t.where}: ${t.expr}`)
        .join('\n')}`,
    );
    let failures: string[] = [];
    for (let attempt = 1; attempt <= 10; attempt++) {
      failures = [];
      for (const target of live) {
        const expr = withVariables(target.expr, grafanaRegexValue([instance]));
        const samples = await prometheus!.query(expr); // rejects on invalid PromQL: no retry for that
        if (!samples.some((s) => Number.isFinite(s.value)))
          failures.push(`${target.where}: ${samples.length === 0 ? 'no data' : 'only NaN'}: ${expr}`);
      }
      if (failures.length === 0) break;
      await sleep(1000);
    }
    assert.deepEqual(failures, [], failures.join('\n'));
    assert.ok(live.length >= 40, `only ${live.length} targets checked`);
  });

  it('shows the known numbers: 2 of 2 workers, 2 connections per pool, max_connections 60, MySQL up', async () => {
    const value = async (title: string, refId: string) => {
      const target = targets.find((t) => t.panel.title === title && t.refId === refId);
      assert.ok(target, `${title} [${refId}]`);
      return (await prometheus!.query(withVariables(target.expr, grafanaRegexValue([instance])))).map((s) => s.value);
    };
    assert.deepEqual(await value('Workers ready / configured', 'A'), [2]);
    assert.deepEqual(await value('Workers ready / configured', 'B'), [2]);
    assert.deepEqual(await value('Worker $worker: connections used / idle / pending vs max', 'D'), [2, 2]);
    assert.deepEqual(await value('MySQL connections: connected vs max_connections vs our budget', 'B'), [60]);
    assert.deepEqual(await value('MySQL reachable', 'A'), [1]);
  });

  // Last: it reloads the cluster and kills a worker, which the numbers above must not see.
  it('marks a real reload and a real worker restart with its annotations', async () => {
    const c = cluster!;
    const mark = c.logs.length;
    process.kill(c.child.pid!, 'SIGHUP');
    await c.waitForLog((l) => l.msg === 'rolling reload finished', 30_000, mark);
    process.kill(c.readyWorkerPids()[0]!, 'SIGKILL');
    await c.waitForLog((l) => l.msg === 'worker died; restarting', 10_000, mark);
    const events = async () =>
      Promise.all(
        prometheusAnnotations.map(async (a) =>
          (await prometheus!.query(withVariables(a.expr, grafanaRegexValue([instance]))))
            .filter((s) => s.value >= 1)
            .map((s) => s.metric),
        ),
      );
    let found: Record<string, string>[][] = [];
    for (let waited = 0; waited < 30_000; waited += 1000) {
      found = await events();
      if (found.every((series) => series.length > 0)) break;
      await sleep(1000);
    }
    const [reloads, restarts] = found;
    assert.deepEqual(
      reloads!.map((m) => m['outcome']),
      ['completed'],
      'one event for the completed reload (Grafana draws samples >= 1)',
    );
    assert.equal(restarts!.length, 1, `one restart event: ${JSON.stringify(restarts)}`);
  });
});

import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import type { Dashboard } from '@grafana/schema';
import { dashboardFiles } from '../../grafana/dashboard-files.js';
import { mysqlBudgetCluster } from '../../grafana/dashboards-src/mysql-budget-cluster.js';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestName } from '../../loadtest/engine/scenario-spec.js';
import { LoadtestMetrics } from '../../loadtest/report/prom-exporter.js';
import { freePort } from '../helpers/free-port.js';
import { startCluster, type ClusterProcess } from '../helpers/cluster-process.js';
import { request } from '../helpers/in-process-app.js';
import { startPrometheus, testPrometheusConfig, type PrometheusServer } from '../helpers/prometheus-server.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../helpers/throwaway-mariadb.js';
import { aggregationsAround, allPanels, dashboardTargets, externalSource, grafanaRegexValue, metricNamesIn, substituteVariables, type DashboardPanel } from './promql-names.js';
import { asList, asMap, readRepoFile, readYaml, repoRoot, type YamlMap } from './repo-files.js';

/*
 * Grafana cannot run here, so the provisioned dashboard is proven instead: statically (provisioning
 * matches docker-compose.yaml, valid provisioned JSON, every datasource resolves, every metric exists) and
 * live, by running every panel target's PromQL against a real Prometheus scraping a real cluster.
 */

const dashboardFile = 'grafana/dashboards/mysql-budget-cluster.json';
const dashboard = JSON.parse(readRepoFile(dashboardFile)) as YamlMap & {
  panels: DashboardPanel[];
  templating: { list: YamlMap[] };
  annotations: { list: (YamlMap & { name: string; expr?: string })[] };
};
const prometheusAnnotations = dashboard.annotations.list.filter((a) => typeof a.expr === 'string') as { name: string; expr: string; titleFormat?: string }[];
const targets = dashboardTargets(dashboard);
const variables = new Map(dashboard.templating.list.map((v) => [String(v['name']), v]));
const compose = asMap(asMap(readYaml('docker-compose.yaml'), 'compose')['services'], 'services');
const grafanaService = asMap(compose['grafana'], 'grafana service');
const mounts = new Map(asList(grafanaService['volumes'], 'grafana volumes').map((v) => String(v).split(':').slice(0, 2) as [string, string]));
const variableQuery = (name: string) => {
  const query = variables.get(name)?.['query'];
  return typeof query === 'string' ? query : String(asMap(query, `${name} query`)['query']);
};
// At least one k6 name: a target reading only recording rules (no metric names) is not k6's, and is checked live.
const onlyK6 = (expr: string) => {
  const { metrics } = metricNamesIn(expr);
  return metrics.length > 0 && metrics.every((name) => externalSource(name) === 'k6');
};
// What Grafana substitutes; $instance is set per test below, $worker is "All".
const grafanaValues = { __rate_interval: '10s', __interval: '2s', __range: '1m', worker: '.*', testid: '.*', datasource: 'prometheus' };
const withVariables = (expr: string, instance = '.*') => substituteVariables(expr, { ...grafanaValues, instance });

describe('Grafana provisioning and the mysql-budget-cluster dashboard', () => {
  describe('static', () => {
    it('provisions one default Prometheus datasource with a fixed uid at the compose service', () => {
      const list = asList(asMap(readYaml('grafana/provisioning/datasources/prometheus.yml'), 'datasources')['datasources'], 'datasources');
      assert.equal(list.length, 1);
      const source = asMap(list[0], 'datasource');
      assert.deepEqual([source['type'], source['uid'], source['url'], source['isDefault']], ['prometheus', 'prometheus', 'http://prometheus:9090', true]);
      assert.ok(compose['prometheus'], 'docker-compose.yaml has a prometheus service');
      const global = asMap(asMap(readYaml('prometheus/prometheus.yml'), 'prometheus.yml')['global'], 'global');
      assert.equal(asMap(source['jsonData'], 'jsonData')['timeInterval'], global['scrape_interval'], 'timeInterval = scrape_interval');
    });

    it('loads dashboards from the folder docker-compose mounts, home dashboard included', () => {
      const providers = asList(asMap(readYaml('grafana/provisioning/dashboards/dashboards.yml'), 'providers')['providers'], 'providers');
      assert.equal(providers.length, 1);
      const provider = asMap(providers[0], 'provider');
      assert.equal(provider['type'], 'file');
      const path = String(asMap(provider['options'], 'options')['path']);
      assert.equal(path, mounts.get('./grafana/dashboards'), 'provider path = where ./grafana/dashboards is mounted');
      assert.equal(mounts.get('./grafana/provisioning'), '/etc/grafana/provisioning', "Grafana's provisioning folder");
      const home = String(asMap(grafanaService['environment'], 'grafana environment')['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH']);
      assert.equal(home, `${path}/mysql-budget-cluster.json`);
      assert.ok(existsSync(resolve(repoRoot, 'grafana/dashboards', home.slice(path.length + 1))));
    });

    it('is the provisioned form (no __inputs), with a stable uid and schemaVersion 39-41', () => {
      assert.equal(dashboard['__inputs'], undefined, 'the "export for sharing" form does not provision');
      assert.equal(dashboard['__requires'], undefined);
      assert.doesNotMatch(readRepoFile(dashboardFile), /\$\{DS_/);
      assert.equal(dashboard['uid'], 'mysql-budget-cluster');
      assert.ok(Number(dashboard['schemaVersion']) >= 39 && Number(dashboard['schemaVersion']) <= 41, `schemaVersion ${dashboard['schemaVersion']}`);
    });

    it('is the JSON that npm run dashboards writes from its typed source (grafana/dashboards-src)', () => {
      for (const { file, json } of dashboardFiles()) assert.equal(readRepoFile(file), json, `${file} differs from its source: run npm run dashboards`);
      assert.deepEqual(readdirSync(resolve(repoRoot, 'grafana/dashboards')).map((name) => `grafana/dashboards/${name}`), dashboardFiles().map((d) => d.file));
      // Compile time: a field of the wrong type is an error (tsc fails the build if this line ever type-checks).
      // @ts-expect-error schemaVersion is a number in Grafana's schema
      const wrong = { ...mysqlBudgetCluster, schemaVersion: '39' } satisfies Dashboard;
      assert.equal(typeof wrong.schemaVersion, 'string');
    });

    it('has the datasource, instance, worker and k6 testid variables', () => {
      assert.deepEqual([...variables.keys()], ['datasource', 'instance', 'worker', 'testid']);
      assert.deepEqual([variables.get('datasource')!['type'], variables.get('datasource')!['query']], ['datasource', 'prometheus']);
      assert.equal(variableQuery('instance'), 'label_values(db_pool_budget_connections, instance)');
      assert.equal(variableQuery('worker'), 'label_values(db_client_connection_max{instance=~"$instance"}, worker)');
      assert.equal(variableQuery('testid'), 'label_values(k6_http_reqs_total, testid)');
      // k6 tags every sample with testid: each k6 query follows the variable.
      for (const target of targets.filter((t) => onlyK6(t.expr))) {
        for (const [selector] of target.expr.matchAll(/k6_\w+(\{[^}]*\})?/g)) assert.match(selector, /testid=~"\$testid"/, `${target.where}: ${selector}`);
      }
      for (const name of ['instance', 'worker', 'testid']) {
        const v = variables.get(name)!;
        assert.deepEqual([v['type'], v['multi'], v['includeAll'], v['allValue']], ['query', true, true, '.*'], name);
      }
    });

    it('has the five rows, unique panel ids, and timeseries/stat/gauge panels with a unit and a description', () => {
      const panels = allPanels(dashboard);
      const ids = panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join()}`);
      assert.deepEqual(
        panels.filter((p) => p.type === 'row').map((p) => p.title),
        ['Overview', 'Pool per worker', 'MySQL', 'Node runtime per worker', 'Load test'],
      );
      for (const panel of panels.filter((p) => p.type !== 'row')) {
        assert.ok(['timeseries', 'stat', 'gauge'].includes(String(panel.type)), `${panel.title}: type ${panel.type}`);
        assert.ok((panel.description ?? '').length > 40, `${panel.title}: say what it means for on-call`);
        assert.ok(panel.fieldConfig?.defaults?.unit, `${panel.title}: no unit`);
        assert.ok((panel.targets ?? []).length > 0, `${panel.title}: no query`);
        assert.ok(panel.gridPos && panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title}: gridPos`);
        const refIds = (panel.targets ?? []).map((t) => t.refId);
        assert.equal(new Set(refIds).size, refIds.length, `${panel.title}: duplicate refIds`);
      }
      for (const target of targets) assert.doesNotMatch(withVariables(target.expr), /\$|\[\[/, `${target.where}: unknown variable`);
    });

    it('gives per-second panels a rate unit, not a plain number', () => {
      const rateUnits = ['reqps', 'ops', 'rps', 'wps', 'cps'];
      for (const panel of allPanels(dashboard).filter((p) => p.type !== 'row')) {
        // A rate shown as is (no quantile, no ratio of rates) is a per-second figure.
        const perSecond = /per second|\/s\b/i.test(panel.title ?? '') || (panel.targets ?? []).every((t) => /\brate\(/.test(t.expr ?? '') && !/histogram_quantile|\s\/\s/.test(t.expr ?? ''));
        const unit = String(panel.fieldConfig?.defaults?.unit);
        if (perSecond && unit !== 'percentunit') assert.ok(rateUnits.includes(unit), `${panel.title}: unit ${unit} for a per-second panel (${rateUnits.join(', ')})`);
      }
    });

    // Every replica's primary exports the same mysql_* series: summed across replicas, MySQL would count N times.
    it('counts every MySQL series once, however many replicas export it (max or min, never sum)', () => {
      for (const target of targets) {
        for (const { name, aggregation } of aggregationsAround(target.expr, (metric) => metric.startsWith('mysql_'))) {
          assert.ok(aggregation === 'max' || aggregation === 'min', `${target.where}: ${aggregation ?? 'no aggregation'} over ${name} counts or shows MySQL once per replica`);
        }
      }
    });

    it('annotates reloads and worker restarts from the primary\'s counters', () => {
      assert.deepEqual(prometheusAnnotations.map((a) => a.name), ['Reloads (SIGHUP)', 'Worker restarts']);
      assert.deepEqual(prometheusAnnotations.map((a) => metricNamesIn(a.expr).metrics), [['cluster_reloads_total'], ['cluster_worker_restarts_total']]);
    });

    it('resolves every datasource reference to the provisioned uid', () => {
      const provisioned = String(asMap(asList(asMap(readYaml('grafana/provisioning/datasources/prometheus.yml'), 'ds')['datasources'], 'ds')[0], 'ds')['uid']);
      const refs = [
        ...allPanels(dashboard).filter((p) => p.type !== 'row').map((p) => [p.title, p.datasource] as const),
        ...allPanels(dashboard).flatMap((p) => (p.targets ?? []).map((t) => [`${p.title} [${t.refId}]`, t.datasource] as const)),
        ...[...variables.values()].filter((v) => v['type'] === 'query').map((v) => [`$${v['name']}`, v['datasource']] as const),
      ];
      for (const [where, ref] of refs) {
        const { type, uid } = asMap(ref, `${where} datasource`);
        assert.equal(type, 'prometheus', `${where}: datasource type`);
        const variable = /^\$\{?(\w+)\}?$/.exec(String(uid))?.[1];
        if (variable) assert.equal(variables.get(variable)?.['query'], 'prometheus', `${where}: $${variable} must be a prometheus datasource variable`);
        else assert.equal(uid, provisioned, `${where}: uid ${uid} is not the provisioned ${provisioned}`);
      }
    });

    it('reads metric names out of PromQL', () => {
      const names = (expr: string) => metricNamesIn(expr).metrics.sort();
      assert.deepEqual(names('sum by (worker, le) (rate(a_bucket{worker=~"x|y", le!="1"}[5m] offset 1m)) / on (worker) group_left (pool) b'), ['a_bucket', 'b']);
      assert.deepEqual(names('histogram_quantile(0.95, x) > 1e-3 or vector(0) and count without (instance) (up == bool 1)'), ['up', 'x']);
      assert.deepEqual(names('max_over_time(c[1h:5m]) - min(d{instance="app:9464"}) + {__name__=~"e|f"} * job:g:rate5m'), ['c', 'd', 'e', 'f']);
      assert.deepEqual(metricNamesIn('job:g:rate5m / ignoring(x) h').recordings, ['job:g:rate5m']);
    });

    it("uses only k6 trend stats that docker-compose asks k6's remote write to send", () => {
      const k6Env = asMap(asMap(compose['k6'], 'k6')['environment'], 'k6 environment');
      const stats = String(k6Env['K6_PROMETHEUS_RW_TREND_STATS']).split(',').map((s) => s.trim().replace(/^p\((.*)\)$/, (_, p: string) => `p${p.replace('.', '')}`));
      const used = targets.flatMap((t) => metricNamesIn(t.expr).metrics).filter((name) => name.startsWith('k6_http_req_duration_'));
      assert.ok(used.length > 0);
      for (const name of used) assert.ok(stats.includes(name.slice('k6_http_req_duration_'.length)), `${name}: not in K6_PROMETHEUS_RW_TREND_STATS`);
    });
  });

  describe('live: every panel query against a real Prometheus scraping a real cluster', function () {
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
      const login = await call('login', '/api/login', { method: 'POST', json: { email: user.email, password: user.password } });
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
        WORKERS: '2', DATABASE_URL: mariadb.url, DB_POOL_MAX: '2', DB_RESERVED_CONNECTIONS: '5',
        DB_ACQUIRE_TIMEOUT_MS: '300', DB_MAX_IDLE: '0', DB_IDLE_TIMEOUT_MS: '1000',
      });
      loadtestPort = await freePort();
      assert.equal(await loadtestMetrics.serve(loadtestPort), undefined);
      const app = `127.0.0.1:${cluster.metricsPort}`;
      instance = app;
      prometheus = await startPrometheus({
        configYaml: (self) => testPrometheusConfig({ targets: { app, prometheus: `${self.host}:${self.port}`, loadtest: `127.0.0.1:${loadtestPort}` } }),
      });
      assert.equal((await call('login', '/api/users', { method: 'POST', json: user })).status, 201);
      traffic = (async () => {
        for (let i = 0; driving && i < 5000; i++) await round(i);
      })();
      // At least 3 scrapes of every job, and the burst's timeouts seen, before any panel is judged.
      const ready = ['count by (job) (count_over_time(up[1m]) >= 3)', 'sum(increase(db_client_connection_timeouts_total[1m])) > 0'];
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
        if (type === 'histogram' || type === 'summary') for (const suffix of ['_bucket', '_count', '_sum']) exposed.add(name! + suffix);
      }
      const recorded = new Set(ruleRecordNames());
      for (const target of targets) {
        const { metrics, recordings } = metricNamesIn(withVariables(target.expr));
        for (const name of metrics) assert.ok(exposed.has(name) || externalSource(name), `${target.where}: ${name} is not in the app's exposition`);
        for (const name of recordings) assert.ok(recorded.has(name), `${target.where}: recording rule ${name} is not in prometheus/rules`);
      }
    });

    it('resolves the instance and worker variables to the test instance and both workers', async () => {
      const values = async (name: string) => {
        const [, selector, label] = /^label_values\((.+),\s*(\w+)\)$/.exec(withVariables(variableQuery(name), grafanaRegexValue([instance])))!;
        return (await prometheus!.query(`count by (${label}) (${selector})`)).map((s) => s.metric[label!]).sort();
      };
      assert.deepEqual(await values('instance'), [instance]);
      assert.deepEqual(await values('worker'), ['0', '1']);
    });

    it('returns data for every panel target (variables substituted)', async () => {
      const live = targets.filter((t) => !onlyK6(t.expr));
      console.log(`      k6-only targets, not checked live (no k6 here):\n${targets.filter((t) => onlyK6(t.expr)).map((t) => `        ${t.where}: ${t.expr}`).join('\n')}`);
      let failures: string[] = [];
      for (let attempt = 1; attempt <= 10; attempt++) {
        failures = [];
        for (const target of live) {
          const expr = withVariables(target.expr, grafanaRegexValue([instance]));
          const samples = await prometheus!.query(expr); // rejects on invalid PromQL: no retry for that
          if (!samples.some((s) => Number.isFinite(s.value))) failures.push(`${target.where}: ${samples.length === 0 ? 'no data' : 'only NaN'}: ${expr}`);
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
        Promise.all(prometheusAnnotations.map(async (a) => (await prometheus!.query(withVariables(a.expr, grafanaRegexValue([instance])))).filter((s) => s.value >= 1).map((s) => s.metric)));
      let found: Record<string, string>[][] = [];
      for (let waited = 0; waited < 30_000; waited += 1000) {
        found = await events();
        if (found.every((series) => series.length > 0)) break;
        await sleep(1000);
      }
      const [reloads, restarts] = found;
      assert.deepEqual(reloads!.map((m) => m['outcome']), ['completed'], 'one event for the completed reload (Grafana draws samples >= 1)');
      assert.equal(restarts!.length, 1, `one restart event: ${JSON.stringify(restarts)}`);
    });
  });
});

/** Recording rules defined in prometheus/rules (the dashboard may use them by name). */
function ruleRecordNames(): string[] {
  return readdirSync(resolve(repoRoot, 'prometheus/rules'))
    .filter((file) => file.endsWith('.yml'))
    .flatMap((file) => [...readRepoFile(`prometheus/rules/${file}`).matchAll(/^\s*-\s*record:\s*(\S+)/gm)].map((m) => m[1]!));
}

import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import type { Dashboard } from '@grafana/schema';
import { dashboardFiles } from '../../grafana/dashboard-files.js';
import { mysqlBudgetCluster } from '../../grafana/dashboards-src/mysql-budget-cluster.js';
import { resolve } from 'node:path';
import { aggregationsAround, allPanels, metricNamesIn } from './promql-names.js';
import { asList, asMap, readRepoFile, readYaml, repoRoot } from './repo-files.js';
import {
  compose,
  dashboard,
  dashboardFile,
  grafanaService,
  mounts,
  onlyK6,
  prometheusAnnotations,
  targets,
  variableQuery,
  variables,
  withVariables,
} from './dashboard-fixture.js';

/*
 * Grafana cannot run here, so the provisioned dashboard is proven instead: statically (provisioning
 * matches docker-compose.yaml, valid provisioned JSON, every datasource resolves, every metric exists); live in
 * grafana-dashboard-live.test.ts.
 */

describe('Grafana provisioning and the mysql-budget-cluster dashboard', () => {
  describe('static', () => {
    it('provisions one default Prometheus datasource with a fixed uid at the compose service', () => {
      const list = asList(
        asMap(readYaml('grafana/provisioning/datasources/prometheus.yml'), 'datasources')['datasources'],
        'datasources',
      );
      assert.equal(list.length, 1);
      const source = asMap(list[0], 'datasource');
      assert.deepEqual(
        [source['type'], source['uid'], source['url'], source['isDefault']],
        ['prometheus', 'prometheus', 'http://prometheus:9090', true],
      );
      assert.ok(compose['prometheus'], 'docker-compose.yaml has a prometheus service');
      const global = asMap(asMap(readYaml('prometheus/prometheus.yml'), 'prometheus.yml')['global'], 'global');
      assert.equal(
        asMap(source['jsonData'], 'jsonData')['timeInterval'],
        global['scrape_interval'],
        'timeInterval = scrape_interval',
      );
    });

    it('loads dashboards from the folder docker-compose mounts, home dashboard included', () => {
      const providers = asList(
        asMap(readYaml('grafana/provisioning/dashboards/dashboards.yml'), 'providers')['providers'],
        'providers',
      );
      assert.equal(providers.length, 1);
      const provider = asMap(providers[0], 'provider');
      assert.equal(provider['type'], 'file');
      const path = String(asMap(provider['options'], 'options')['path']);
      assert.equal(path, mounts.get('./grafana/dashboards'), 'provider path = where ./grafana/dashboards is mounted');
      assert.equal(mounts.get('./grafana/provisioning'), '/etc/grafana/provisioning', "Grafana's provisioning folder");
      const home = String(
        asMap(grafanaService['environment'], 'grafana environment')['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'],
      );
      assert.equal(home, `${path}/mysql-budget-cluster.json`);
      assert.ok(existsSync(resolve(repoRoot, 'grafana/dashboards', home.slice(path.length + 1))));
    });

    it('is the provisioned form (no __inputs), with a stable uid and schemaVersion 39-41', () => {
      assert.equal(dashboard['__inputs'], undefined, 'the "export for sharing" form does not provision');
      assert.equal(dashboard['__requires'], undefined);
      assert.doesNotMatch(readRepoFile(dashboardFile), /\$\{DS_/);
      assert.equal(dashboard['uid'], 'mysql-budget-cluster');
      assert.ok(
        Number(dashboard['schemaVersion']) >= 39 && Number(dashboard['schemaVersion']) <= 41,
        `schemaVersion ${dashboard['schemaVersion']}`,
      );
    });

    it('is the JSON that npm run dashboards writes from its typed source (grafana/dashboards-src)', () => {
      for (const { file, json } of dashboardFiles())
        assert.equal(readRepoFile(file), json, `${file} differs from its source: run npm run dashboards`);
      assert.deepEqual(
        readdirSync(resolve(repoRoot, 'grafana/dashboards')).map((name) => `grafana/dashboards/${name}`),
        dashboardFiles().map((d) => d.file),
      );
      // Compile time: a field of the wrong type is an error (tsc fails the build if this line ever type-checks).
      // @ts-expect-error schemaVersion is a number in Grafana's schema
      const wrong = { ...mysqlBudgetCluster, schemaVersion: '39' } satisfies Dashboard;
      assert.equal(typeof wrong.schemaVersion, 'string');
    });

    it('has the datasource, instance, worker and k6 testid variables', () => {
      assert.deepEqual([...variables.keys()], ['datasource', 'instance', 'worker', 'testid']);
      assert.deepEqual(
        [variables.get('datasource')!['type'], variables.get('datasource')!['query']],
        ['datasource', 'prometheus'],
      );
      assert.equal(variableQuery('instance'), 'label_values(db_pool_budget_connections, instance)');
      assert.equal(variableQuery('worker'), 'label_values(db_client_connection_max{instance=~"$instance"}, worker)');
      assert.equal(variableQuery('testid'), 'label_values(k6_http_reqs_total, testid)');
      // k6 tags every sample with testid: each k6 query follows the variable.
      for (const target of targets.filter((t) => onlyK6(t.expr))) {
        for (const [selector] of target.expr.matchAll(/k6_\w+(\{[^}]*\})?/g))
          assert.match(selector, /testid=~"\$testid"/, `${target.where}: ${selector}`);
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
      for (const target of targets)
        assert.doesNotMatch(withVariables(target.expr), /\$|\[\[/, `${target.where}: unknown variable`);
    });

    it('gives per-second panels a rate unit, not a plain number', () => {
      const rateUnits = ['reqps', 'ops', 'rps', 'wps', 'cps'];
      for (const panel of allPanels(dashboard).filter((p) => p.type !== 'row')) {
        // A rate shown as is (no quantile, no ratio of rates) is a per-second figure.
        const perSecond =
          /per second|\/s\b/i.test(panel.title ?? '') ||
          (panel.targets ?? []).every(
            (t) => /\brate\(/.test(t.expr ?? '') && !/histogram_quantile|\s\/\s/.test(t.expr ?? ''),
          );
        const unit = String(panel.fieldConfig?.defaults?.unit);
        if (perSecond && unit !== 'percentunit')
          assert.ok(
            rateUnits.includes(unit),
            `${panel.title}: unit ${unit} for a per-second panel (${rateUnits.join(', ')})`,
          );
      }
    });

    // Every replica's primary exports the same mysql_* series: summed across replicas, MySQL would count N times.
    it('counts every MySQL series once, however many replicas export it (max or min, never sum)', () => {
      for (const target of targets) {
        for (const { name, aggregation } of aggregationsAround(target.expr, (metric) => metric.startsWith('mysql_'))) {
          assert.ok(
            aggregation === 'max' || aggregation === 'min',
            `${target.where}: ${aggregation ?? 'no aggregation'} over ${name} counts or shows MySQL once per replica`,
          );
        }
      }
    });

    it("annotates reloads, worker restarts and failovers from the primary's counters", () => {
      assert.deepEqual(
        prometheusAnnotations.map((a) => a.name),
        ['Reloads (SIGHUP)', 'Worker restarts', 'Failovers'],
      );
      assert.deepEqual(
        prometheusAnnotations.map((a) => metricNamesIn(a.expr).metrics),
        [['cluster_reloads_total'], ['cluster_worker_restarts_total'], ['db_failovers_seen_total']],
      );
    });

    it('resolves every datasource reference to the provisioned uid', () => {
      const provisioned = String(
        asMap(
          asList(asMap(readYaml('grafana/provisioning/datasources/prometheus.yml'), 'ds')['datasources'], 'ds')[0],
          'ds',
        )['uid'],
      );
      const refs = [
        ...allPanels(dashboard)
          .filter((p) => p.type !== 'row')
          .map((p) => [p.title, p.datasource] as const),
        ...allPanels(dashboard).flatMap((p) =>
          (p.targets ?? []).map((t) => [`${p.title} [${t.refId}]`, t.datasource] as const),
        ),
        ...[...variables.values()]
          .filter((v) => v['type'] === 'query')
          .map((v) => [`$${v['name']}`, v['datasource']] as const),
      ];
      for (const [where, ref] of refs) {
        const { type, uid } = asMap(ref, `${where} datasource`);
        assert.equal(type, 'prometheus', `${where}: datasource type`);
        const variable = /^\$\{?(\w+)\}?$/.exec(String(uid))?.[1];
        if (variable)
          assert.equal(
            variables.get(variable)?.['query'],
            'prometheus',
            `${where}: $${variable} must be a prometheus datasource variable`,
          );
        else assert.equal(uid, provisioned, `${where}: uid ${uid} is not the provisioned ${provisioned}`);
      }
    });

    it('reads metric names out of PromQL', () => {
      const names = (expr: string) => metricNamesIn(expr).metrics.sort();
      assert.deepEqual(
        names(
          'sum by (worker, le) (rate(a_bucket{worker=~"x|y", le!="1"}[5m] offset 1m)) / on (worker) group_left (pool) b',
        ),
        ['a_bucket', 'b'],
      );
      assert.deepEqual(
        names('histogram_quantile(0.95, x) > 1e-3 or vector(0) and count without (instance) (up == bool 1)'),
        ['up', 'x'],
      );
      assert.deepEqual(
        names('max_over_time(c[1h:5m]) - min(d{instance="app:9464"}) + {__name__=~"e|f"} * job:g:rate5m'),
        ['c', 'd', 'e', 'f'],
      );
      assert.deepEqual(metricNamesIn('job:g:rate5m / ignoring(x) h').recordings, ['job:g:rate5m']);
    });

    it("uses only k6 trend stats that docker-compose asks k6's remote write to send", () => {
      const k6Env = asMap(asMap(compose['k6'], 'k6')['environment'], 'k6 environment');
      const stats = String(k6Env['K6_PROMETHEUS_RW_TREND_STATS'])
        .split(',')
        .map((s) => s.trim().replace(/^p\((.*)\)$/, (_, p: string) => `p${p.replace('.', '')}`));
      const used = targets
        .flatMap((t) => metricNamesIn(t.expr).metrics)
        .filter((name) => name.startsWith('k6_http_req_duration_'));
      assert.ok(used.length > 0);
      for (const name of used)
        assert.ok(
          stats.includes(name.slice('k6_http_req_duration_'.length)),
          `${name}: not in K6_PROMETHEUS_RW_TREND_STATS`,
        );
    });
  });
});

import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  dashboardTargets,
  externalSource,
  metricNamesIn,
  substituteVariables,
  type DashboardPanel,
} from './promql-names.js';
import { asList, asMap, readRepoFile, readYaml, repoRoot, type YamlMap } from './repo-files.js';

/** The provisioned dashboard as the Grafana tests read it, and what Grafana would substitute into its queries. */

export const dashboardFile = 'grafana/dashboards/mysql-budget-cluster.json';
export const dashboard = JSON.parse(readRepoFile(dashboardFile)) as YamlMap & {
  panels: DashboardPanel[];
  templating: { list: YamlMap[] };
  annotations: { list: (YamlMap & { name: string; expr?: string })[] };
};
export const prometheusAnnotations = dashboard.annotations.list.filter((a) => typeof a.expr === 'string') as {
  name: string;
  expr: string;
  titleFormat?: string;
}[];
export const targets = dashboardTargets(dashboard);
export const variables = new Map(dashboard.templating.list.map((v) => [String(v['name']), v]));
export const compose = asMap(asMap(readYaml('docker-compose.yaml'), 'compose')['services'], 'services');
export const grafanaService = asMap(compose['grafana'], 'grafana service');
export const mounts = new Map(
  asList(grafanaService['volumes'], 'grafana volumes').map((v) => String(v).split(':').slice(0, 2) as [string, string]),
);
export const variableQuery = (name: string) => {
  const query = variables.get(name)?.['query'];
  return typeof query === 'string' ? query : String(asMap(query, `${name} query`)['query']);
};
// At least one k6 name: a target reading only recording rules (no metric names) is not k6's, and is checked live.
export const onlyK6 = (expr: string) => {
  const { metrics } = metricNamesIn(expr);
  return metrics.length > 0 && metrics.every((name) => externalSource(name) === 'k6');
};
// What Grafana substitutes; $instance is set per test below, $worker is "All".
export const grafanaValues = {
  __rate_interval: '10s',
  __interval: '2s',
  __range: '1m',
  worker: '.*',
  testid: '.*',
  datasource: 'prometheus',
};
export const withVariables = (expr: string, instance = '.*') =>
  substituteVariables(expr, { ...grafanaValues, instance });

/** Recording rules defined in prometheus/rules (the dashboard may use them by name). */
export function ruleRecordNames(): string[] {
  return readdirSync(resolve(repoRoot, 'prometheus/rules'))
    .filter((file) => file.endsWith('.yml'))
    .flatMap((file) =>
      [...readRepoFile(`prometheus/rules/${file}`).matchAll(/^\s*-\s*record:\s*(\S+)/gm)].map((m) => m[1]!),
    );
}

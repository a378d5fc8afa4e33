import { DashboardCursorSync, type Dashboard } from '@grafana/schema';
import { annotations } from './annotations.js';
import { loadtestRow } from './loadtest-row.js';
import { mysqlRow } from './mysql-row.js';
import { overviewRow } from './overview-row.js';
import { poolRow } from './pool-row.js';
import { runtimeRow } from './runtime-row.js';
import { variables } from './variables.js';

/**
 * The provisioned dashboard (grafana/dashboards/mysql-budget-cluster.json is written from this by
 * `npm run dashboards`). `satisfies Dashboard`: a field Grafana's schema does not have, or of the wrong type, fails
 * the type-check instead of being ignored by Grafana at load time.
 */
export const mysqlBudgetCluster = {
  uid: 'mysql-budget-cluster',
  title: 'mysql-budget-cluster',
  description:
    'The API cluster, its budgeted MySQL pools, MySQL itself, the Node runtime and load tests. Alerts: prometheus/rules; runbooks: docs/runbooks.md.',
  tags: ['mysql', 'nodejs', 'connection-pool'],
  schemaVersion: 39,
  version: 1,
  editable: true,
  graphTooltip: DashboardCursorSync.Crosshair,
  fiscalYearStartMonth: 0,
  liveNow: false,
  refresh: '10s',
  time: { from: 'now-30m', to: 'now' },
  timepicker: {},
  timezone: 'browser',
  weekStart: '',
  links: [],
  annotations: { list: annotations },
  templating: { list: variables },
  panels: [...overviewRow, ...poolRow, ...mysqlRow, ...runtimeRow, ...loadtestRow],
} satisfies Dashboard;

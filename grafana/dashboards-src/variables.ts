import { VariableHide, VariableRefresh, VariableSort, type VariableModel } from '@grafana/schema';
import { prometheus } from './panels.js';

/** A multi-value query variable with "All" meaning any value (`.*`, so series without the label match too). */
function queryVariable(name: string, label: string, query: string, sort: VariableSort): VariableModel {
  return {
    name,
    label,
    type: 'query',
    datasource: prometheus,
    query: { query, refId: `PrometheusVariableQueryEditor-${name}` },
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    refresh: VariableRefresh.onTimeRangeChanged,
    regex: '',
    sort,
    hide: VariableHide.dontHide,
    skipUrlSync: false,
  };
}

export const variables: VariableModel[] = [
  {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: { selected: false, text: 'Prometheus', value: 'prometheus' },
    options: [],
    refresh: VariableRefresh.onDashboardLoad,
    regex: '',
    hide: VariableHide.dontHide,
    includeAll: false,
    multi: false,
    skipUrlSync: false,
  },
  queryVariable(
    'instance',
    'Instance',
    'label_values(db_pool_budget_connections, instance)',
    VariableSort.alphabeticalAsc,
  ),
  queryVariable(
    'worker',
    'Worker',
    'label_values(db_client_connection_max{instance=~"$instance"}, worker)',
    VariableSort.numericalAsc,
  ),
  // k6 tags every sample with its run's testid (docker-compose: TESTID): pick one run, or compare several.
  queryVariable('testid', 'k6 test run', 'label_values(k6_http_reqs_total, testid)', VariableSort.alphabeticalDesc),
];

import { mysqlBudgetCluster } from './dashboards-src/mysql-budget-cluster.js';

/** Every provisioned dashboard: its path in the repository and the JSON its source generates. */
export function dashboardFiles(): { readonly file: string; readonly json: string }[] {
  return [
    { file: 'grafana/dashboards/mysql-budget-cluster.json', json: `${JSON.stringify(mysqlBudgetCluster, null, 2)}\n` },
  ];
}

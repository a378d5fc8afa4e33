/** The app's metric families, part of its contract with dashboards and rules: what the tests expect /metrics to expose. */

/** Per worker (label `worker="<slot>"`), from each worker's registry. */
export const workerMetricNames = [
  'db_client_connection_count',
  'db_client_connection_max',
  'db_client_connection_idle_max',
  'db_client_connection_pending_requests',
  'db_client_connection_timeouts_total',
  'db_client_statement_timeouts_total',
  'db_client_connection_wait_time_seconds',
  'db_client_connection_use_time_seconds',
  'db_client_connection_create_time_seconds',
  'db_client_connection_errors_total',
  'db_client_connections_closed_total',
  'db_client_retries_total',
  'db_client_read_only_refusals_total',
  'http_server_request_duration_seconds',
  'http_server_active_requests',
] as const;

/** Once per cluster, from the primary. */
export const primaryMetricNames = [
  'db_pool_budget_connections',
  'db_pool_budget_reserved_connections',
  'db_pool_budget_per_worker_connections',
  'db_pool_budget_limit_connections',
  'db_pool_budget_limit_info',
  'db_pool_budget_replicas',
  'db_pool_budget_granted_connections',
  'db_pool_budget_share_changes_total',
  'db_pool_budget_lease_renew_failures_total',
  'db_pool_budget_fenced_total',
  'cluster_workers',
  'cluster_workers_configured',
  'cluster_worker_restarts_total',
  'cluster_reloads_total',
  'cluster_scrape_failures_total',
  'db_failovers_seen_total',
  'app_replicas',
  'mysql_up',
  'mysql_global_status_threads_connected',
  'mysql_global_status_threads_running',
  'mysql_global_status_max_used_connections',
  'mysql_global_status_aborted_connects',
  'mysql_global_status_connection_errors_total',
  'mysql_global_variables_max_connections',
  'mysql_global_variables_max_user_connections',
  'mysql_global_variables_server_id',
  'mysql_global_variables_read_only',
  'mysql_session_max_user_connections',
] as const;

export const histogramMetricNames = [
  'db_client_connection_wait_time_seconds',
  'db_client_connection_use_time_seconds',
  'db_client_connection_create_time_seconds',
  'http_server_request_duration_seconds',
] as const;

/** Every sample name the exposition may carry for those families (histograms as _bucket/_count/_sum). */
export function appSampleNames(): Set<string> {
  const histograms = new Set<string>(histogramMetricNames);
  return new Set(
    [...workerMetricNames, ...primaryMetricNames].flatMap((name) =>
      histograms.has(name) ? ['_bucket', '_count', '_sum'].map((suffix) => name + suffix) : [name],
    ),
  );
}

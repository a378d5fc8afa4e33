import type { Panel, RowPanel } from '@grafana/schema';
import { row, fixedColor, limitLine, timeseries } from './panels.js';

/** The "Pool per worker" row and its panels. */
export const poolRow: (Panel | RowPanel)[] = [
  row(9, 'Pool per worker', 21),
  timeseries({
    id: 10,
    title: 'Worker $worker: connections used / idle / pending vs max',
    description:
      "One panel per worker slot (summed over the selected instances). Used + idle are the pool's open connections; pending are requests queued for one. When used reaches the dashed max line and pending stacks above it, the pool is exhausted: queued requests get 503 after DB_ACQUIRE_TIMEOUT_MS (DbPoolExhausted).",
    unit: 'short',
    gridPos: { x: 0, y: 22, w: 12, h: 8 },
    queries: [
      [
        'sum by (worker) (db_client_connection_count{instance=~"$instance", worker=~"$worker", db_client_connection_state="used"})',
        'used',
      ],
      [
        'sum by (worker) (db_client_connection_count{instance=~"$instance", worker=~"$worker", db_client_connection_state="idle"})',
        'idle',
      ],
      ['sum by (worker) (db_client_connection_pending_requests{instance=~"$instance", worker=~"$worker"})', 'pending'],
      ['sum by (worker) (db_client_connection_max{instance=~"$instance", worker=~"$worker"})', 'max'],
    ],
    fillOpacity: 40,
    stacking: 'normal',
    overrides: [
      fixedColor('A', 'orange'),
      fixedColor('B', 'green'),
      fixedColor('C', 'red'),
      limitLine('D', 'dark-red'),
    ],
    repeat: { variable: 'worker', direction: 'h', maxPerRow: 4 },
  }),
  timeseries({
    id: 11,
    title: 'Pool utilisation (used / max)',
    description:
      "Share of each worker's pool lent to requests. Above 90% for 5 minutes raises DbPoolSaturationHigh: no headroom left for a spike. One hot worker points to a slow query or a leak in it; all of them to overall demand.",
    unit: 'percentunit',
    gridPos: { x: 0, y: 30, w: 8, h: 8 },
    queries: [
      [
        'sum by (instance, worker) (job_instance_worker_pool:db_client_connection_used:ratio{instance=~"$instance", worker=~"$worker"})',
        'worker {{worker}} {{instance}}',
      ],
    ],
    steps: [{ color: 'red', value: 0.9 }],
    max: 1,
  }),
  timeseries({
    id: 12,
    title: 'Wait time for a connection p95 / p99',
    description:
      'How long requests waited to get a pooled connection (timed-out waits included). Near DB_ACQUIRE_TIMEOUT_MS (default 1 s) requests are about to get 503; compare with the hold time next to it.',
    unit: 's',
    gridPos: { x: 8, y: 30, w: 8, h: 8 },
    queries: [
      [
        'histogram_quantile(0.95, sum by (instance, worker, le) (rate(db_client_connection_wait_time_seconds_bucket{instance=~"$instance", worker=~"$worker"}[$__rate_interval])))',
        'p95 worker {{worker}} {{instance}}',
      ],
      [
        'histogram_quantile(0.99, sum by (instance, worker, le) (rate(db_client_connection_wait_time_seconds_bucket{instance=~"$instance", worker=~"$worker"}[$__rate_interval])))',
        'p99 worker {{worker}} {{instance}}',
      ],
    ],
  }),
  timeseries({
    id: 13,
    title: 'Connection hold (use) time p95 / p99',
    description:
      'How long a request kept its connection. Rising hold time with a full pool means slow queries (check SHOW FULL PROCESSLIST); it is the first thing to shorten before asking for more connections.',
    unit: 's',
    gridPos: { x: 16, y: 30, w: 8, h: 8 },
    queries: [
      [
        'histogram_quantile(0.95, sum by (instance, worker, le) (rate(db_client_connection_use_time_seconds_bucket{instance=~"$instance", worker=~"$worker"}[$__rate_interval])))',
        'p95 worker {{worker}} {{instance}}',
      ],
      [
        'histogram_quantile(0.99, sum by (instance, worker, le) (rate(db_client_connection_use_time_seconds_bucket{instance=~"$instance", worker=~"$worker"}[$__rate_interval])))',
        'p99 worker {{worker}} {{instance}}',
      ],
    ],
  }),
  timeseries({
    id: 14,
    title: 'Acquire and statement timeouts per second (each one a 503)',
    description:
      'Acquire: requests that gave up waiting for a connection after DB_ACQUIRE_TIMEOUT_MS (DbPoolAcquireTimeouts when they go on for 5 minutes). Statement: statements that outlived DB_QUERY_TIMEOUT_MS; each connection was destroyed and its server thread killed (DbStatementTimeouts when they go on for 5 minutes). All were answered 503 with Retry-After; 0 is normal.',
    unit: 'reqps',
    gridPos: { x: 0, y: 38, w: 8, h: 8 },
    queries: [
      [
        'sum by (instance, worker) (rate(db_client_connection_timeouts_total{instance=~"$instance", worker=~"$worker"}[$__rate_interval]))',
        'acquire: worker {{worker}} {{instance}}',
      ],
      [
        'sum by (instance, worker) (rate(db_client_statement_timeouts_total{instance=~"$instance", worker=~"$worker"}[$__rate_interval]))',
        'statement: worker {{worker}} {{instance}}',
      ],
    ],
    steps: [{ color: 'red', value: 0.001 }],
  }),
  timeseries({
    id: 15,
    title: 'Connections opened / closed per second',
    description:
      'New MySQL connections opened by each pool, and connections closed by reason (idle_timeout: pool shrinking after load; error: broken connections discarded; shutdown). Constant churn at steady load means DB_MAX_IDLE is too low for the traffic.',
    unit: 'ops',
    gridPos: { x: 8, y: 38, w: 8, h: 8 },
    queries: [
      [
        'sum by (instance, worker) (rate(db_client_connection_create_time_seconds_count{instance=~"$instance", worker=~"$worker"}[$__rate_interval])) or on (instance, worker) (0 * sum by (instance, worker) (db_client_connection_max{instance=~"$instance", worker=~"$worker"}))',
        'opened worker {{worker}} {{instance}}',
      ],
      [
        'sum by (instance, worker, reason) (rate(db_client_connections_closed_total{instance=~"$instance", worker=~"$worker"}[$__rate_interval])) or on (instance, worker) (0 * sum by (instance, worker) (db_client_connection_max{instance=~"$instance", worker=~"$worker"}))',
        'closed {{reason}} worker {{worker}} {{instance}}',
      ],
    ],
  }),
  timeseries({
    id: 16,
    title: 'Driver errors per second by code',
    description:
      'Errors the MySQL driver reported while opening or using connections: ER_CON_COUNT_ERROR is MySQL refusing us ("Too many connections"), ECONNREFUSED/ETIMEDOUT an unreachable server, PROTOCOL_CONNECTION_LOST a dropped connection. 0 when healthy.',
    unit: 'ops',
    gridPos: { x: 16, y: 38, w: 8, h: 8 },
    queries: [
      [
        'sum by (instance, worker, code) (rate(db_client_connection_errors_total{instance=~"$instance", worker=~"$worker"}[$__rate_interval])) or on (instance, worker) (0 * sum by (instance, worker) (db_client_connection_max{instance=~"$instance", worker=~"$worker"}))',
        '{{code}} worker {{worker}} {{instance}}',
      ],
    ],
  }),
];

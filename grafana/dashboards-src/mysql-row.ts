import type { Panel, RowPanel } from '@grafana/schema';
import { fixedColor, row, gauge, limitLine, stat, timeseries } from './panels.js';

/** The "MySQL" row and its panels. */
export const mysqlRow: (Panel | RowPanel)[] = [
  row(17, 'MySQL', 46),
  timeseries({
    id: 18,
    title: 'MySQL connections: connected vs max_connections vs our budget',
    description:
      "Threads_connected is everyone's connections to MySQL; max_connections is where MySQL starts refusing (errno 1040). Budget is what all pools of all replicas may use (limit − reserve − primaries); pools' max is what they could open right now, and must stay at or below the budget (else DbPoolBudgetOversubscribed). Connected above our open connections is someone else's. \"Limit the budget used\" is the bound the primaries read at start, named by its source: max_connections, max_user_connections_global, or max_user_connections_account (the account's own MAX_USER_CONNECTIONS, invisible in max_connections).",
    unit: 'short',
    gridPos: { x: 0, y: 47, w: 12, h: 8 },
    queries: [
      ['max(mysql_global_status_threads_connected{instance=~"$instance"})', 'threads connected'],
      ['min(mysql_global_variables_max_connections{instance=~"$instance"})', 'max_connections'],
      ['min(db_pool_budget_connections{instance=~"$instance"})', 'budget for our pools'],
      ['sum(db_client_connection_max)', "our pools' max (all replicas)"],
      ['sum(db_client_connection_count)', 'our open connections (all replicas)'],
      [
        'min by (limit_source) (db_pool_budget_limit_connections{instance=~"$instance"} * on (job, instance) group_left (limit_source) db_pool_budget_limit_info{instance=~"$instance"})',
        'limit the budget used ({{limit_source}})',
      ],
    ],
    overrides: [limitLine('B', 'red'), limitLine('C', 'orange'), limitLine('D', 'yellow')],
  }),
  gauge({
    id: 19,
    title: 'MySQL connection usage',
    description:
      'Threads_connected / max_connections. Above 80% for 5 minutes warns, above 95% for 1 minute pages (MySQLConnectionsNearLimit): at 100% MySQL refuses every new connection, ours included.',
    unit: 'percentunit',
    gridPos: { x: 12, y: 47, w: 6, h: 8 },
    queries: [
      [
        'max(mysql_global_status_threads_connected{instance=~"$instance"}) / min(mysql_global_variables_max_connections{instance=~"$instance"})',
        'used',
      ],
    ],
    steps: [
      { color: 'orange', value: 0.8 },
      { color: 'red', value: 0.95 },
    ],
    max: 1,
  }),
  stat({
    id: 20,
    title: 'Max used connections (since MySQL start)',
    description:
      "MySQL's high-water mark of simultaneous connections since it started, against max_connections. Close to max_connections means it has nearly refused connections before, even if it is quiet now.",
    unit: 'short',
    gridPos: { x: 18, y: 47, w: 6, h: 8 },
    queries: [
      ['max(mysql_global_status_max_used_connections{instance=~"$instance"})', 'max used'],
      ['min(mysql_global_variables_max_connections{instance=~"$instance"})', 'max_connections'],
    ],
  }),
  timeseries({
    id: 21,
    title: 'Refused and aborted connects per second',
    description:
      'Refused: MySQL answered "Too many connections" (Connection_errors_max_connections, errno 1040, the original incident), from any client: any is a warning, refusals in every 2 minutes for 5 minutes page (MySQLRefusingConnections). Aborted: failed logins or clients that gave up during the handshake (wrong password, network). 0 when healthy.',
    unit: 'ops',
    gridPos: { x: 0, y: 55, w: 12, h: 8 },
    queries: [
      [
        'max(rate(mysql_global_status_connection_errors_total{instance=~"$instance", error="max_connections"}[$__rate_interval]))',
        'refused (max_connections)',
      ],
      ['max(rate(mysql_global_status_aborted_connects{instance=~"$instance"}[$__rate_interval]))', 'aborted connects'],
    ],
    steps: [{ color: 'red', value: 0.001 }],
  }),
  timeseries({
    id: 22,
    title: 'MySQL threads running',
    description:
      'Statements executing inside MySQL right now. High while pools are full means MySQL itself is the bottleneck (locks, missing index, I/O); low while pools are full means connections are held while waiting on something else.',
    unit: 'short',
    gridPos: { x: 12, y: 55, w: 12, h: 8 },
    queries: [['max(mysql_global_status_threads_running{instance=~"$instance"})', 'threads running']],
  }),
  timeseries({
    id: 38,
    title: 'Live shares (APP_REPLICAS=auto)',
    description:
      "Each replica's published grant (every connection it may hold: its primary's plus its pools at the current ceiling), the per-pool ceiling, and the live replicas counted. On a join the others' grants step down first, then the newcomer's grows; after a crash the survivors grow once they have seen its claim unchanged for a lease (5 s) and its threads are killed. A replica at 0 while others hold grants is waiting for room (more replicas than the account's limit serves: DbReplicaWaitingForRoom). With a fixed APP_REPLICAS the lines are flat.",
    unit: 'short',
    gridPos: { x: 0, y: 63, w: 12, h: 8 },
    queries: [
      ['max by (instance) (db_pool_budget_granted_connections{instance=~"$instance"})', 'granted {{instance}}'],
      [
        'max by (instance) (db_pool_budget_per_worker_connections{instance=~"$instance"})',
        'ceiling per pool {{instance}}',
      ],
      ['max(db_pool_budget_replicas{instance=~"$instance"})', 'replicas counted'],
    ],
  }),
  timeseries({
    id: 39,
    title: 'Share changes, lease renewal failures, fences',
    description:
      'APP_REPLICAS=auto: grants raised (grow) and lowered (shrink) per replica, coordination steps that failed (the lease not renewed: DbReplicaLeaseRenewalsFailing when it goes on), and fences (a replica withdrew its whole share after 4 s without a renewal and answered 503 until it joined again: DbReplicaFenced).',
    unit: 'short',
    gridPos: { x: 12, y: 63, w: 12, h: 8 },
    queries: [
      [
        'sum by (instance, direction) (increase(db_pool_budget_share_changes_total{instance=~"$instance"}[$__rate_interval]))',
        '{{direction}} {{instance}}',
      ],
      [
        'sum by (instance) (increase(db_pool_budget_lease_renew_failures_total{instance=~"$instance"}[$__rate_interval]))',
        'renewal failures {{instance}}',
      ],
      [
        'sum by (instance) (increase(db_pool_budget_fenced_total{instance=~"$instance"}[$__rate_interval]))',
        'fenced {{instance}}',
      ],
    ],
    overrides: [fixedColor('C', 'red')],
  }),
  timeseries({
    id: 42,
    title: 'Server taking writes',
    description:
      'The server behind DATABASE_URL, as the primaries read it: its @@server_id and read_only (1: it refuses writes). At a failover the server_id steps to the new primary\'s (annotation "Failovers"); read_only at 1 means the primaries reached a server that refuses writes and are looking for the one that takes them. It stays 1 only while no server behind DATABASE_URL takes writes (a failover that did not finish): DbWritesRefusedReadOnly after a minute of refusals. docs/failover.md.',
    unit: 'short',
    gridPos: { x: 0, y: 71, w: 12, h: 8 },
    queries: [
      ['max(mysql_global_variables_server_id{instance=~"$instance"})', 'server_id'],
      ['max(mysql_global_variables_read_only{instance=~"$instance"})', 'read_only'],
    ],
    overrides: [fixedColor('B', 'red')],
  }),
  timeseries({
    id: 43,
    title: 'Retries and read-only refusals per second',
    description:
      'Statements run again once on a fresh connection, by reason (read_only: the old primary refused a write, nothing written; not_sent: the connection was found closed before sending; read_lost: a read lost its connection; transaction_lost: a transaction lost its connection before its COMMIT, so it was rolled back), and writes the server refused as read-only (statement: errno 1290/1792/1836; connection: a new connection to a read-only server, not kept). A failover shows a short burst; refusals that go on for more than a minute page (DbWritesRefusedReadOnly). A write whose outcome is unknown is never retried: it is a 504.',
    unit: 'ops',
    gridPos: { x: 12, y: 71, w: 12, h: 8 },
    queries: [
      [
        'sum by (reason) (rate(db_client_retries_total{instance=~"$instance"}[$__rate_interval]))',
        'retried: {{reason}}',
      ],
      [
        'sum by (where) (rate(db_client_read_only_refusals_total{instance=~"$instance"}[$__rate_interval]))',
        'refused read-only: {{where}}',
      ],
    ],
  }),
];

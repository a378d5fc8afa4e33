import { MappingType, type Panel, type RowPanel } from '@grafana/schema';
import { fixedColor, limitLine, row, stat, timeseries } from './panels.js';

/** The "Overview" row and its panels. */
export const overviewRow: (Panel | RowPanel)[] = [
  row(1, 'Overview', 0),
  timeseries({
    id: 2,
    title: 'API request rate by status',
    description:
      'Requests per second answered by the selected workers, by HTTP status (all routes). A drop to zero with traffic expected means the app is down or unreachable; a rise in 503 means the pool deadline or MySQL.',
    unit: 'reqps',
    gridPos: { x: 0, y: 1, w: 8, h: 8 },
    queries: [
      [
        'sum(rate(http_server_request_duration_seconds_count{instance=~"$instance", worker=~"$worker"}[$__rate_interval]))',
        'total',
      ],
      [
        'sum by (http_response_status_code) (rate(http_server_request_duration_seconds_count{instance=~"$instance", worker=~"$worker"}[$__rate_interval]))',
        '{{http_response_status_code}}',
      ],
    ],
  }),
  timeseries({
    id: 3,
    title: 'API 5xx error ratio',
    description:
      'Share of requests answered with a 5xx status. Above 5% for 2 minutes (with > 1 req/s) pages as ApiErrorRatioHigh. 503 = no connection within DB_ACQUIRE_TIMEOUT_MS or MySQL unreachable: check the Pool and MySQL rows. 0 when nothing fails.',
    unit: 'percentunit',
    gridPos: { x: 8, y: 1, w: 8, h: 8 },
    queries: [
      [
        '(sum(rate(http_server_request_duration_seconds_count{instance=~"$instance", worker=~"$worker", http_response_status_code=~"5.."}[$__rate_interval])) or vector(0)) / sum(rate(http_server_request_duration_seconds_count{instance=~"$instance", worker=~"$worker"}[$__rate_interval]))',
        '5xx ratio',
      ],
    ],
    steps: [{ color: 'red', value: 0.05 }],
  }),
  timeseries({
    id: 4,
    title: 'API latency p95 / p99',
    description:
      'Request duration percentiles over every API route except the test-only /test/*. p95 above 1 s for 5 minutes raises ApiLatencyP95High; near the 1 s pool deadline it usually means requests wait for a connection (Pool row: wait time).',
    unit: 's',
    gridPos: { x: 16, y: 1, w: 8, h: 8 },
    queries: [
      [
        'histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket{instance=~"$instance", worker=~"$worker", http_route!~"/test/.*"}[$__rate_interval])))',
        'p95',
      ],
      [
        'histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{instance=~"$instance", worker=~"$worker", http_route!~"/test/.*"}[$__rate_interval])))',
        'p99',
      ],
    ],
    steps: [{ color: 'orange', value: 1 }],
  }),
  stat({
    id: 5,
    title: 'Workers ready / configured',
    description:
      'Worker processes ready to serve, against WORKERS. Ready below configured means workers are crashing or restarting (Node runtime row: restarts), or a reload is in progress.',
    unit: 'short',
    gridPos: { x: 0, y: 9, w: 6, h: 4 },
    queries: [
      ['sum(cluster_workers{instance=~"$instance", state="ready"})', 'ready'],
      ['sum(cluster_workers_configured{instance=~"$instance"})', 'configured'],
    ],
  }),
  stat({
    id: 6,
    title: 'Firing alerts',
    description:
      'Alerts from prometheus/rules firing right now, by severity (0 when all is well). Critical pages; the Prometheus /alerts page names them, and each has a runbook in docs/runbooks.md.',
    unit: 'short',
    gridPos: { x: 6, y: 9, w: 6, h: 4 },
    queries: [
      ['count(ALERTS{alertstate="firing", severity="critical"}) or vector(0)', 'critical'],
      ['count(ALERTS{alertstate="firing", severity="warning"}) or vector(0)', 'warning'],
    ],
    steps: [{ color: 'red', value: 1 }],
  }),
  stat({
    id: 7,
    title: 'MySQL reachable',
    description:
      "Whether each selected primary could read MySQL's status on its last scrape (the lowest wins). DOWN means requests that need the database get 503; see the MySQLDown runbook.",
    unit: 'short',
    gridPos: { x: 12, y: 9, w: 6, h: 4 },
    queries: [['min(mysql_up{instance=~"$instance"})', 'mysql_up']],
    mappings: [
      {
        type: MappingType.ValueToText,
        options: { '0': { text: 'DOWN', color: 'red', index: 0 }, '1': { text: 'UP', color: 'green', index: 1 } },
      },
    ],
  }),
  stat({
    id: 8,
    title: 'Requests in flight',
    description:
      'HTTP requests being processed right now by the selected workers. Climbing while the request rate stays flat means requests are stuck waiting, usually for a database connection.',
    unit: 'short',
    gridPos: { x: 18, y: 9, w: 6, h: 4 },
    queries: [['sum(http_server_active_requests{instance=~"$instance", worker=~"$worker"})', 'in flight']],
  }),
  timeseries({
    id: 40,
    title: 'Request line: waiting vs the limit that runs at once',
    description:
      'Each worker runs at most HTTP_MAX_CONCURRENT_REQUESTS requests at once (by default twice its pool); the rest wait in line, first come first served, before any work is done for them. Waiting above zero means more requests arrive than the workers run: a burst of connections, or a slow database holding the ones that run. Refused: answered 503 overloaded because the line was full (HTTP_QUEUE_MAX) or a request waited HTTP_QUEUE_TIMEOUT_MS.',
    unit: 'short',
    gridPos: { x: 0, y: 13, w: 12, h: 8 },
    queries: [
      ['sum(http_server_queued_requests{instance=~"$instance", worker=~"$worker"})', 'waiting'],
      ['sum(http_server_active_requests{instance=~"$instance", worker=~"$worker"})', 'in flight (waiting included)'],
      ['sum(http_server_concurrency_limit{instance=~"$instance", worker=~"$worker"})', 'limit'],
      [
        'sum(rate(http_server_queue_refusals_total{instance=~"$instance", worker=~"$worker"}[$__rate_interval])) or vector(0)',
        'refused per second',
      ],
    ],
    overrides: [fixedColor('A', 'orange'), fixedColor('B', 'blue'), limitLine('C', 'dark-red'), fixedColor('D', 'red')],
  }),
  timeseries({
    id: 41,
    title: 'Time waited in the request line p50 / p99',
    description:
      "How long the requests that found their worker at its limit waited for their turn (requests let in at once are not counted; 0 when none waited). The server's request duration (API latency) includes it; the pool's wait for a connection comes after it. Near HTTP_QUEUE_TIMEOUT_MS, requests are about to be refused.",
    unit: 's',
    gridPos: { x: 12, y: 13, w: 12, h: 8 },
    queries: [
      [
        '(histogram_quantile(0.5, sum by (le) (rate(http_server_queue_wait_seconds_bucket{instance=~"$instance", worker=~"$worker"}[$__rate_interval]))) >= 0) or vector(0)',
        'p50',
      ],
      [
        '(histogram_quantile(0.99, sum by (le) (rate(http_server_queue_wait_seconds_bucket{instance=~"$instance", worker=~"$worker"}[$__rate_interval]))) >= 0) or vector(0)',
        'p99',
      ],
    ],
  }),
];

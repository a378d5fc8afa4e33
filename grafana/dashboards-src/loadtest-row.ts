import type { Panel, RowPanel } from '@grafana/schema';
import { row, timeseries } from './panels.js';

/** The "Load test" row and its panels. */
export const loadtestRow: (Panel | RowPanel)[] = [
  row(29, 'Load test', 96),
  timeseries({
    id: 30,
    title: 'Load tester: requests per second by scenario',
    description:
      'Requests the Node load tester (job loadtest, port 9465) sends, by scenario. Only while a load test runs; compare with the API request rate to see whether the app keeps up.',
    unit: 'reqps',
    gridPos: { x: 0, y: 97, w: 6, h: 8 },
    queries: [['sum by (scenario) (rate(loadtest_requests_total[$__rate_interval]))', '{{scenario}}']],
  }),
  timeseries({
    id: 31,
    title: 'Load tester: p95 latency by scenario',
    description:
      "95th percentile response time as the load tester measures it (client side: includes queueing in the kernel and the network). Well above the API's own p95 means requests wait before the app even sees them.",
    unit: 's',
    gridPos: { x: 6, y: 97, w: 6, h: 8 },
    queries: [
      [
        'histogram_quantile(0.95, sum by (scenario, le) (rate(loadtest_request_duration_seconds_bucket[$__rate_interval])))',
        '{{scenario}}',
      ],
    ],
  }),
  timeseries({
    id: 32,
    title: 'Load tester: errors per second',
    description:
      'Responses other than 2xx (and connection failures) the load tester got, by scenario and status. 503 means the pool deadline was hit (Pool row); 401 during a login test must never happen for valid users.',
    unit: 'reqps',
    gridPos: { x: 12, y: 97, w: 6, h: 8 },
    queries: [
      [
        'sum by (scenario, status) (rate(loadtest_requests_total{status!~"2.."}[$__rate_interval])) or on (scenario) (0 * sum by (scenario) (rate(loadtest_requests_total[$__rate_interval])))',
        '{{scenario}} {{status}}',
      ],
    ],
  }),
  timeseries({
    id: 33,
    title: 'Load tester: open connections',
    description:
      'TCP connections the load tester holds open to the API. Compare with requests in flight (Overview) and pool pending requests.',
    unit: 'short',
    gridPos: { x: 18, y: 97, w: 6, h: 8 },
    queries: [['sum(loadtest_active_connections)', 'connections']],
  }),
  timeseries({
    id: 34,
    title: 'k6: requests per second',
    description:
      'k6\'s requests per second by status (remote-written to Prometheus while `docker compose --profile loadtest up k6` runs), and those k6 counts as failed (expected_response=false). The k6 panels show the runs picked in "k6 test run" (the testid tag, TESTID in docker-compose).',
    unit: 'reqps',
    gridPos: { x: 0, y: 105, w: 6, h: 8 },
    queries: [
      ['sum by (status) (rate(k6_http_reqs_total{testid=~"$testid"}[$__rate_interval]))', '{{status}}'],
      ['sum(rate(k6_http_reqs_total{testid=~"$testid", expected_response="false"}[$__rate_interval]))', 'failed'],
    ],
  }),
  timeseries({
    id: 35,
    title: 'k6: http_req_duration p95 / p99',
    description:
      "k6's own response-time percentiles (K6_PROMETHEUS_RW_TREND_STATS), the worst over its series. The login script's thresholds are judged on these.",
    unit: 's',
    gridPos: { x: 6, y: 105, w: 6, h: 8 },
    queries: [
      ['max(k6_http_req_duration_p95{testid=~"$testid"})', 'p95'],
      ['max(k6_http_req_duration_p99{testid=~"$testid"})', 'p99'],
    ],
  }),
  timeseries({
    id: 36,
    title: 'k6: virtual users',
    description:
      'Virtual users k6 is running: the offered load. Errors or latency rising with VUs show where the system saturates.',
    unit: 'short',
    gridPos: { x: 12, y: 105, w: 6, h: 8 },
    queries: [['sum(k6_vus{testid=~"$testid"})', 'VUs']],
  }),
  timeseries({
    id: 37,
    title: 'k6: failed request ratio',
    description:
      'Share of k6 requests that failed (http_req_failed). Anything above 0 during a login load test is a bug or capacity problem to explain.',
    unit: 'percentunit',
    gridPos: { x: 18, y: 105, w: 6, h: 8 },
    queries: [['avg(k6_http_req_failed_rate{testid=~"$testid"})', 'failed']],
    max: 1,
  }),
];

import assert from 'node:assert/strict';
import { generateRunId, parseCliArgs, UsageError } from '../../loadtest/cli/args.js';
import { parseDuration } from '../../loadtest/cli/duration.js';
import { defaultCredentialsPath } from '../../loadtest/engine/credentials.js';
import { causeOfError, causeOfStatus, statusDetail } from '../../loadtest/engine/errors.js';
import { newHistogram, Recorder } from '../../loadtest/engine/recorder.js';
import { expandSteps, loadScenarioFile, sessionsNeeded } from '../../loadtest/engine/scenario-spec.js';
import { parseServerMetrics, serverMetricNames, ServerMetricsWatcher } from '../../loadtest/engine/server-metrics.js';
import { TimeSeriesSampler } from '../../loadtest/engine/time-series.js';
import { latencyOf } from '../../loadtest/report/summary.js';
import { primaryMetricNames, workerMetricNames } from '../helpers/app-metric-names.js';

/** The load tester's pure parts: arguments, error causes, the server's /metrics, percentiles. */

const errorWithCode = (code: string) => Object.assign(new Error(code), { code });

describe('load tester parts', () => {
  it('parses the CLI, with its defaults', () => {
    const args = parseCliArgs(['--scenario', 'me', '--connections', '10000', '--duration', '30']);
    assert.ok(typeof args === 'object');
    assert.match(args.runId, /^lt-\d{8}-\d{6}-[0-9a-f]{4}$/);
    assert.deepEqual(
      { ...args, runId: 'generated' },
      {
        scenario: 'me',
        connections: 10_000,
        durationSeconds: 30,
        rate: undefined,
        url: 'http://127.0.0.1:8080',
        metricsUrl: 'http://127.0.0.1:9464/metrics',
        out: undefined,
        report: undefined,
        thresholdP95Ms: undefined,
        minSuccess: undefined,
        credentials: defaultCredentialsPath,
        metricsPort: 9465,
        runId: 'generated',
        scrapeIntervalSeconds: 15,
      },
    );
    assert.equal(parseCliArgs(['--help']), 'help');
    assert.equal(parseCliArgs(['--version']), 'version');
    const more = parseCliArgs([
      '--scenario',
      'me',
      '--connections',
      '1',
      '--duration',
      '1m30s',
      '--out',
      '-',
      '--run-id',
      'nightly-3',
      '--scrape-interval',
      '500ms',
    ]);
    assert.ok(typeof more === 'object');
    assert.deepEqual(
      [more.durationSeconds, more.out, more.runId, more.scrapeIntervalSeconds],
      [90, '-', 'nightly-3', 0.5],
    );
    assert.throws(() => parseCliArgs(['--scenario', 'me', '--connections', '1', '--duration', '0s']), UsageError);
    assert.throws(
      () => parseCliArgs(['--scenario', 'me', '--connections', '1', '--duration', '1', '--run-id', 'a"b']),
      UsageError,
    );
    assert.throws(() => parseCliArgs(['--scenario', 'me', '--connections', '0', '--duration', '1']), UsageError);
    assert.throws(
      () => parseCliArgs(['--scenario', 'me', '--connections', '1', '--duration', '1', '--metrics-port', '70000']),
      UsageError,
    );
  });

  it('reads durations as k6 writes them (30s, 2m, 1m30s), a bare number as seconds', () => {
    const cases: [string, number | undefined][] = [
      ['30', 30],
      ['1.5', 1.5],
      ['30s', 30],
      ['2m', 120],
      ['1m30s', 90],
      ['1h', 3600],
      ['500ms', 0.5],
      ['1.5m', 90],
      ['2h3m4s', 7384],
      ['', undefined],
      ['30x', undefined],
      ['s', undefined],
      ['1m1m', undefined],
      ['30s1m', undefined],
      ['-1s', undefined],
      ['1 m', undefined],
    ];
    assert.deepEqual(
      cases.map(([text]) => [text, parseDuration(text)]),
      cases,
    );
  });

  it('generates run ids that sort by time', () => {
    const id = generateRunId(new Date('2026-11-30T14:26:55.123Z'));
    assert.match(id, /^lt-20261130-142655-[0-9a-f]{4}$/);
  });

  it('sorts failures into causes, with the API error code as detail', () => {
    assert.equal(causeOfError(errorWithCode('UND_ERR_HEADERS_TIMEOUT')), 'timeout');
    assert.equal(causeOfError(errorWithCode('UND_ERR_CONNECT_TIMEOUT')), 'timeout');
    assert.equal(causeOfError(errorWithCode('ECONNRESET')), 'reset');
    assert.equal(causeOfError(errorWithCode('UND_ERR_SOCKET')), 'reset');
    assert.equal(causeOfError(errorWithCode('ECONNREFUSED')), 'refused');
    assert.equal(causeOfError(errorWithCode('EMFILE')), 'other');
    assert.equal(causeOfStatus(200, 200), undefined);
    assert.equal(causeOfStatus(503, 200), '503');
    assert.equal(causeOfStatus(401, 204), '401');
    assert.equal(causeOfStatus(429, 200), '429');
    assert.equal(causeOfStatus(500, 200), 'http_other');
    assert.equal(statusDetail(503, '{"error":"overloaded","message":"x"}'), '503 overloaded');
    assert.equal(statusDetail(502, '<html>'), '502');
  });

  it('reads pool and MySQL figures from the cluster exposition, summed over workers', () => {
    const appNames = new Set<string>([...workerMetricNames, ...primaryMetricNames]);
    assert.deepEqual(
      serverMetricNames.filter((name) => !appNames.has(name)),
      [],
      'the report charts families the app no longer exposes',
    );
    const text = [
      '# TYPE db_client_connection_count gauge',
      'db_client_connection_count{pool_name="primary",state="used",worker="0"} 3',
      'db_client_connection_count{pool_name="primary",state="idle",worker="0"} 7',
      'db_client_connection_count{pool_name="primary",state="used",worker="1"} 4',
      'db_client_connection_max{pool_name="primary",worker="0"} 46',
      'db_client_connection_max{pool_name="primary",worker="1"} 46',
      'db_client_connection_idle_max{pool_name="primary",worker="1"} 10',
      'db_client_connection_pending_requests{pool_name="primary",worker="0"} 2',
      'db_client_connection_pending_requests{pool_name="primary",worker="1"} 5',
      'mysql_global_status_threads_connected 57',
      'db_pool_budget_connections 140',
      'db_pool_budget_per_worker_connections 46',
    ].join('\n');
    assert.deepEqual(parseServerMetrics(text), { used: 7, max: 92, pending: 7, threadsConnected: 57, budget: 140 });
    assert.deepEqual(parseServerMetrics(''), {
      used: 0,
      max: 0,
      pending: 0,
      threadsConnected: undefined,
      budget: undefined,
    });
    const otelLabels =
      'db_client_connection_count{db_client_connection_pool_name="primary",db_client_connection_state="used",worker="0"} 6\n' +
      'db_client_connection_count{db_client_connection_pool_name="primary",db_client_connection_state="idle",worker="0"} 9';
    assert.equal(parseServerMetrics(otelLabels).used, 6);
  });

  it('reports ordered percentiles in ms, never above the max', () => {
    const histogram = newHistogram();
    for (let i = 1; i <= 1000; i++) histogram.recordValue(i * 1000 + 7); // 1.007 ms … 1000.007 ms
    const latency = latencyOf(histogram);
    assert.ok(
      Math.abs(latency.p50 - 500) < 1 && Math.abs(latency.p95 - 950) < 1 && Math.abs(latency.p99 - 990) < 1,
      JSON.stringify(latency),
    );
    assert.equal(latency.max, 1000.007);
    assert.ok(latency.p99 <= latency.max);
    assert.deepEqual(latencyOf(newHistogram()), { p50: 0, p90: 0, p95: 0, p99: 0, max: 0, mean: 0 });
  });

  it('samples the run per interval: counts, percentiles, statuses that appear late, new scrapes only', () => {
    const recorder = new Recorder();
    const server = new ServerMetricsWatcher('http://127.0.0.1:1/metrics');
    const sampler = new TimeSeriesSampler(recorder, server, 1000);
    for (let i = 1; i <= 100; i++) recorder.response('me', '200', i * 1000, undefined);
    server.latest = { used: 3, max: 8, pending: 1, threadsConnected: 9, budget: 140 };
    server.latestAt = 1500;
    server.scrapes = 1;
    sampler.sample(2000);
    recorder.response('me', '503', 7000, '503', '503 overloaded');
    recorder.failure('me', 'ECONNRESET', 'reset');
    sampler.sample(3000); // no new scrape since the last sample
    sampler.sample(3250); // nothing at all: the drain after the stop
    const s = sampler.series;
    assert.deepEqual(s.t, [1, 2, 2.25]);
    assert.deepEqual(s.requests, [100, 2, 0]);
    assert.deepEqual(s.errors, [0, 2, 0]);
    assert.deepEqual(s.statuses, { '200': [100, 0, 0], '503': [0, 1, 0], no_response: [0, 1, 0] });
    assert.ok(Math.abs(s.p50Ms[0]! - 50) < 0.1 && Math.abs(s.p99Ms[0]! - 99) < 0.1, JSON.stringify(s.p50Ms));
    assert.deepEqual([s.p50Ms[1], s.p95Ms[1], s.p99Ms[1]], [7, 7, 7]); // only the 503 had a latency
    assert.deepEqual([s.p50Ms[2], s.p95Ms[2], s.p99Ms[2]], [null, null, null]);
    assert.deepEqual(s.server, { t: [0.5], used: [3], max: [8], pending: [1], threadsConnected: [9], budget: [140] });
  });

  it('loads scenarios.json: the login flow, and which scenarios need sessions first', () => {
    const file = loadScenarioFile();
    assert.deepEqual(expandSteps(file.scenarios.login), ['login', 'me', 'me', 'me', 'logout']);
    assert.equal(sessionsNeeded(file, 'login'), 0);
    assert.ok(sessionsNeeded(file, 'me') > 0);
    assert.equal(sessionsNeeded(file, 'mixed'), sessionsNeeded(file, 'me'));
  });
});

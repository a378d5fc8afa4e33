import assert from 'node:assert/strict';
import { parseCliArgs, UsageError } from '../../loadtest/cli/args.js';
import { defaultCredentialsPath } from '../../loadtest/engine/credentials.js';
import { causeOfError, causeOfStatus, statusDetail } from '../../loadtest/engine/errors.js';
import { newHistogram } from '../../loadtest/engine/recorder.js';
import { expandSteps, loadScenarioFile, sessionsNeeded } from '../../loadtest/engine/scenario-spec.js';
import { parseServerMetrics } from '../../loadtest/engine/server-metrics.js';
import { latencyOf } from '../../loadtest/report/summary.js';

/** The load tester's pure parts: arguments, error causes, the server's /metrics, percentiles. */

const errorWithCode = (code: string) => Object.assign(new Error(code), { code });

describe('load tester parts', () => {
  it('parses the CLI of issue 5, with its defaults', () => {
    const args = parseCliArgs(['--scenario', 'me', '--connections', '10000', '--duration', '30']);
    assert.notEqual(args, 'help');
    assert.deepEqual(args, {
      scenario: 'me',
      connections: 10_000,
      durationSeconds: 30,
      rate: undefined,
      url: 'http://127.0.0.1:8080',
      metricsUrl: 'http://127.0.0.1:9464/metrics',
      out: undefined,
      thresholdP95Ms: undefined,
      minSuccess: undefined,
      credentials: defaultCredentialsPath,
      metricsPort: 9465,
    });
    assert.equal(parseCliArgs(['--help']), 'help');
    assert.throws(() => parseCliArgs(['--scenario', 'me', '--connections', '0', '--duration', '1']), UsageError);
    assert.throws(() => parseCliArgs(['--scenario', 'me', '--connections', '1', '--duration', '1', '--metrics-port', '70000']), UsageError);
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
    assert.deepEqual(parseServerMetrics(''), { used: 0, max: 0, pending: 0, threadsConnected: undefined, budget: undefined });
  });

  it('reports ordered percentiles in ms, never above the max', () => {
    const histogram = newHistogram();
    for (let i = 1; i <= 1000; i++) histogram.recordValue(i * 1000 + 7); // 1.007 ms … 1000.007 ms
    const latency = latencyOf(histogram);
    assert.ok(Math.abs(latency.p50 - 500) < 1 && Math.abs(latency.p95 - 950) < 1 && Math.abs(latency.p99 - 990) < 1, JSON.stringify(latency));
    assert.equal(latency.max, 1000.007);
    assert.ok(latency.p99 <= latency.max);
    assert.deepEqual(latencyOf(newHistogram()), { p50: 0, p90: 0, p95: 0, p99: 0, max: 0, mean: 0 });
  });

  it('loads scenarios.json: the login flow, and which scenarios need sessions first', () => {
    const file = loadScenarioFile();
    assert.deepEqual(expandSteps(file.scenarios.login), ['login', 'me', 'me', 'me', 'logout']);
    assert.equal(sessionsNeeded(file, 'login'), 0);
    assert.ok(sessionsNeeded(file, 'me') > 0);
    assert.equal(sessionsNeeded(file, 'mixed'), sessionsNeeded(file, 'me'));
  });
});

import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultCredentialsPath } from '../engine/credentials.js';
import { scenarioNames, type ScenarioName } from '../engine/scenario-spec.js';
import { parseDuration } from './duration.js';

export interface CliArgs {
  readonly scenario: ScenarioName;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Open model: scenario iterations started per second; undefined = closed model. */
  readonly rate: number | undefined;
  readonly url: string;
  readonly metricsUrl: string;
  /** A path, or '-' for stdout (the human summary then goes to stderr). */
  readonly out: string | undefined;
  /** The self-contained HTML report. */
  readonly report: string | undefined;
  /** undefined: the per-request p95 limits of loadtest/scenarios.json apply. */
  readonly thresholdP95Ms: number | undefined;
  /** undefined: thresholds.loginSuccessRate of loadtest/scenarios.json. */
  readonly minSuccess: number | undefined;
  readonly credentials: string;
  /** 0 = do not serve the tester's own metrics. */
  readonly metricsPort: number;
  /** Label `run_id` on every loadtest_* series, so runs can be told apart in Prometheus. */
  readonly runId: string;
  /** How long the exporter stays up after the run, so Prometheus scrapes the final values once more. */
  readonly scrapeIntervalSeconds: number;
}

export class UsageError extends Error {}

export const usage = `usage: npm run loadtest -- --scenario <login|me|mixed> --connections <N> --duration <30s|2m|1m30s>
         [--rate <req/s>] [--url http://127.0.0.1:8080] [--metrics-url http://127.0.0.1:9464/metrics]
         [--out result.json|-] [--report result.html] [--threshold-p95-ms N] [--min-success 0.99]
         [--credentials path] [--metrics-port 9465] [--run-id ID] [--scrape-interval 15s]
       npm run loadtest -- --version | --help

  --scenario       login: log in, GET /api/me x3, log out, think 1 s; me: GET /api/me; mixed: 10% login flows, 90% me
                   (defined in loadtest/scenarios.json, shared with the k6 scripts)
  --connections    keep-alive connections; closed model: one virtual user on each
  --duration       30s, 2m, 1m30s, 500ms (a bare number is seconds); every loop stops by itself then
                   (Ctrl-C stops early and still reports)
  --rate           open model: scenario iterations started per second (one = one request for "me", a whole flow
                   for "login"), at most --connections in flight; arrivals finding none free are counted as dropped
  --url            the API; --metrics-url: the cluster's /metrics, for pool and MySQL figures (may be unreachable)
  --out            write the result as JSON (per-second series included); "-" writes it to stdout, and the
                   summary table to stderr
  --report         write a self-contained HTML report: charts of req/s, latency, errors, statuses, the pool and
                   MySQL Threads_connected against the budget over time (no network needed to view it)
  --threshold-p95-ms  fail if the p95 of all requests is above N ms (default: per-request limits of scenarios.json)
  --min-success    fail if the share of requests with the expected status is below this (default 0.99)
  --credentials    seeded users (default loadtest/credentials.json, written by \`npm run seed -- --users N\`)
  --metrics-port   serve loadtest_* Prometheus metrics on this port while running (0 = off)
  --run-id         value of the run_id label on those metrics (default: generated, printed at the start)
  --scrape-interval  keep serving them this long after the run (default 15s, Prometheus's scrape interval),
                   so the final values are scraped; Ctrl-C cuts it short

exit status: 0 thresholds passed, 1 a threshold failed, 2 usage error or no credentials, 3 the run could not start`;

function number(
  name: string,
  raw: string | undefined,
  check: (n: number) => boolean,
  what: string,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value) || !check(value)) throw new UsageError(`--${name} must be ${what} (got "${raw}")`);
  return value;
}

function duration(
  name: string,
  raw: string | undefined,
  check: (seconds: number) => boolean,
  what: string,
): number | undefined {
  if (raw === undefined) return undefined;
  const seconds = parseDuration(raw);
  if (seconds === undefined || !check(seconds))
    throw new UsageError(`--${name} must be ${what}, like 30s, 2m or 1m30s (got "${raw}")`);
  return seconds;
}

/** Sortable and unique enough to tell runs apart: lt-20261130-142655-3f9a. */
export function generateRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `lt-${stamp}-${randomBytes(2).toString('hex')}`;
}

function httpUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--${name} must be an http:// URL (got "${raw}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--${name} must be an http:// URL (got "${raw}")`);
  return raw;
}

/** Parses argv (without node and the script); throws UsageError. `help` or `version` when that was asked for. */
export function parseCliArgs(argv: readonly string[]): CliArgs | 'help' | 'version' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        scenario: { type: 'string' },
        connections: { type: 'string' },
        duration: { type: 'string' },
        rate: { type: 'string' },
        url: { type: 'string' },
        'metrics-url': { type: 'string' },
        out: { type: 'string' },
        report: { type: 'string' },
        'threshold-p95-ms': { type: 'string' },
        'min-success': { type: 'string' },
        credentials: { type: 'string' },
        'metrics-port': { type: 'string' },
        'run-id': { type: 'string' },
        'scrape-interval': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values['help']) return 'help';
  if (values['version']) return 'version';
  const text = (name: string) => values[name] as string | undefined;
  const scenario = text('scenario');
  if (scenario === undefined) throw new UsageError('--scenario is required');
  if (!(scenarioNames as readonly string[]).includes(scenario))
    throw new UsageError(`--scenario must be one of ${scenarioNames.join(', ')} (got "${scenario}")`);
  const connections = number(
    'connections',
    text('connections'),
    (n) => Number.isInteger(n) && n >= 1 && n <= 100_000,
    'an integer from 1 to 100000',
  );
  if (connections === undefined) throw new UsageError('--connections is required');
  const durationSeconds = duration(
    'duration',
    text('duration'),
    (n) => n > 0 && n <= 86_400,
    'a duration above 0 and at most 24h',
  );
  if (durationSeconds === undefined) throw new UsageError('--duration is required');
  return {
    scenario: scenario as ScenarioName,
    connections,
    durationSeconds,
    rate: number('rate', text('rate'), (n) => n > 0, 'a rate above 0'),
    url: httpUrl('url', text('url') ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    metricsUrl: httpUrl('metrics-url', text('metrics-url') ?? 'http://127.0.0.1:9464/metrics'),
    out: text('out') === undefined || text('out') === '-' ? text('out') : resolve(text('out')!),
    report: text('report') === undefined ? undefined : resolve(text('report')!),
    thresholdP95Ms: number(
      'threshold-p95-ms',
      text('threshold-p95-ms'),
      (n) => n > 0,
      'a number of milliseconds above 0',
    ),
    minSuccess: number('min-success', text('min-success'), (n) => n >= 0 && n <= 1, 'a share from 0 to 1'),
    credentials: resolve(text('credentials') ?? defaultCredentialsPath),
    metricsPort:
      number(
        'metrics-port',
        text('metrics-port'),
        (n) => Number.isInteger(n) && n >= 0 && n <= 65_535,
        'a port from 0 to 65535',
      ) ?? 9465,
    runId: runIdOf(text('run-id')),
    scrapeIntervalSeconds:
      duration('scrape-interval', text('scrape-interval'), (n) => n >= 0 && n <= 3600, 'a duration from 0 to 1h') ?? 15,
  };
}

function runIdOf(raw: string | undefined): string {
  if (raw === undefined) return generateRunId();
  // A label value may hold anything, but this one is also typed into PromQL and file names.
  if (!/^[\w.-]{1,64}$/.test(raw))
    throw new UsageError(`--run-id must be 1-64 letters, digits, '.', '_' or '-' (got "${raw}")`);
  return raw;
}

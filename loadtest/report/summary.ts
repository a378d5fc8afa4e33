import type { Cause } from '../engine/errors.js';
import type { Histogram, Recorder } from '../engine/recorder.js';
import type { RequestName, ScenarioFile } from '../engine/scenario-spec.js';
import type { ServerMetricsWatcher } from '../engine/server-metrics.js';
import type { TimeSeries } from '../engine/time-series.js';

/** The result (the --out JSON) and the thresholds verdict. */

export interface Latency {
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export interface Threshold {
  readonly name: string;
  readonly limit: number;
  readonly actual: number | null;
  readonly ok: boolean;
}

export interface RunInfo {
  readonly scenario: string;
  readonly runId: string;
  readonly model: 'closed' | 'open';
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly rate: number | null;
  readonly startedAt: string;
  readonly elapsedSeconds: number;
  readonly stoppedBy: 'duration' | 'signal';
  readonly sessions: number;
  readonly peakOpenConnections: number;
  readonly connectErrors: number;
}

export interface Limits {
  readonly thresholdP95Ms: number | undefined;
  readonly minSuccess: number;
}

const ms = (micros: number) => Math.round(micros) / 1000;
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

export function latencyOf(histogram: Histogram): Latency {
  const max = histogram.totalCount === 0 ? 0 : ms(histogram.maxValue);
  // A percentile is its bucket's upper bound (3 significant digits): never report it above the exact max.
  const at = (p: number) => (histogram.totalCount === 0 ? 0 : Math.min(max, ms(histogram.getValueAtPercentile(p))));
  return {
    p50: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    max,
    mean: histogram.totalCount === 0 ? 0 : round(histogram.mean / 1000, 3),
  };
}

const sortedCounts = (counts: Map<string, number>) =>
  Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)));

export function thresholdsOf(file: ScenarioFile, recorder: Recorder, limits: Limits, successRate: number): Threshold[] {
  const thresholds: Threshold[] = [];
  if (limits.thresholdP95Ms !== undefined) {
    const p95 = recorder.overall.totalCount === 0 ? null : latencyOf(recorder.overall).p95;
    thresholds.push({
      name: 'p95 of all requests (ms)',
      limit: limits.thresholdP95Ms,
      actual: p95,
      ok: p95 !== null && p95 <= limits.thresholdP95Ms,
    });
  } else {
    for (const [name, stats] of recorder.byName) {
      const limit = file.thresholds.p95Ms[name as RequestName];
      if (limit === undefined || stats.histogram.totalCount === 0) continue;
      const p95 = latencyOf(stats.histogram).p95;
      thresholds.push({ name: `p95 of ${name} (ms)`, limit, actual: p95, ok: p95 <= limit });
    }
  }
  const requests = recorder.requests;
  thresholds.push({
    name: 'success rate',
    limit: limits.minSuccess,
    actual: requests === 0 ? null : successRate,
    ok: requests > 0 && successRate >= limits.minSuccess,
  });
  return thresholds;
}

export function buildResult(
  run: RunInfo,
  file: ScenarioFile,
  recorder: Recorder,
  server: ServerMetricsWatcher,
  limits: Limits,
  timeSeries: TimeSeries,
) {
  const successRate = recorder.requests === 0 ? 0 : round(recorder.ok / recorder.requests, 6);
  const thresholds = thresholdsOf(file, recorder, limits, successRate);
  const byName = Object.fromEntries(
    [...recorder.byName].map(([name, stats]) => [
      name,
      {
        requests: stats.requests,
        successRate: stats.requests === 0 ? 0 : round(stats.ok / stats.requests, 6),
        latencyMs: latencyOf(stats.histogram),
        statusCounts: sortedCounts(stats.statusCounts),
      },
    ]),
  );
  return {
    ...run,
    totalRequests: recorder.requests,
    successfulRequests: recorder.ok,
    failedRequests: recorder.errorTotal(),
    successRate,
    requestsPerSecond: run.elapsedSeconds > 0 ? round(recorder.requests / run.elapsedSeconds, 1) : 0,
    iterations: recorder.iterations,
    droppedIterations: recorder.droppedIterations,
    interruptedRequests: recorder.interrupted,
    latencyMs: latencyOf(recorder.overall),
    byName,
    statusCounts: sortedCounts(recorder.statusCounts),
    errors: { ...recorder.errors } as Record<Cause, number>,
    errorDetails: sortedCounts(recorder.errorDetails),
    server: {
      metricsUrl: server.url,
      scrapes: server.scrapes,
      scrapeFailures: server.failures,
      lastScrapeError: server.lastError ?? null,
      peakThreadsConnected: server.peakThreadsConnected ?? null,
      budgetConnections: server.budget ?? null,
      poolMax: server.poolMax ?? null,
      peakPoolUsed: server.peakUsed,
      peakPoolPending: server.peakPending,
    },
    thresholds,
    passed: thresholds.every((t) => t.ok),
    timeSeries,
  };
}

export type Result = ReturnType<typeof buildResult>;

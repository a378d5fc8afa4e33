import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterProcess } from '../../harness/cluster-process.js';
import { testDatabaseUrl } from '../../harness/test-database.js';
import { percentile } from '../../harness/traffic.js';
import { benchToken, startProduct } from './bench-processes.js';
import { runSteadyLoad, type LoadResult } from './steady-load.js';
import { numberFlag } from './bench-flags.js';
import { mean, printTable, writeResult } from './bench-results.js';

/*
 * `npm run bench:metrics`: what the HTTP and pool instrumentation costs, and how fast /metrics
 * answers under load. Both variants run in this one process, interleaved (on, off, on, off...) so that
 * machine noise hits both alike; figures are ratios against the uninstrumented baseline.
 * Targets: instrumentation costs ≤ 5 % throughput; scrape p99 ≤ 100 ms under load.
 */

const durationSeconds = numberFlag('duration', 8);
const rounds = numberFlag('rounds', 2);
const connections = numberFlag('connections', 50);
const workers = numberFlag('workers', 2);
const databaseUrl = process.env['BENCH_DATABASE_URL'] ?? testDatabaseUrl('app_bench');

async function startVariant(instrumented: boolean): Promise<{ cluster: ClusterProcess; token: string }> {
  // Request logs off in both variants: the comparison is about the instrumentation.
  const cluster = await startProduct({
    WORKERS: String(workers),
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    METRICS_INSTRUMENTATION: String(instrumented),
  });
  try {
    const token = await benchToken(cluster.url);
    // Warm up: JIT, pool connections, prepared statements.
    await runSteadyLoad({
      url: `${cluster.url}/api/me`,
      connections,
      durationSeconds: 2,
      headers: { authorization: `Bearer ${token}` },
    });
    return { cluster, token };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

async function measure(instrumented: boolean): Promise<{ load: LoadResult; scrapeMs: number[] }> {
  const { cluster, token } = await startVariant(instrumented);
  const scrapeMs: number[] = [];
  let loading = true;
  const scraper = (async () => {
    while (loading) {
      const started = performance.now();
      await (await fetch(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).text();
      scrapeMs.push(performance.now() - started);
      await sleep(200);
    }
  })();
  try {
    const load = await runSteadyLoad({
      url: `${cluster.url}/api/me`,
      connections,
      durationSeconds,
      headers: { authorization: `Bearer ${token}` },
    });
    return { load, scrapeMs };
  } finally {
    loading = false;
    await scraper;
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  console.log(
    `bench:metrics — ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${workers} workers, ${connections} connections, ${durationSeconds} s × ${rounds} rounds per variant`,
  );
  const on: LoadResult[] = [];
  const off: LoadResult[] = [];
  const scrapes: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Both variants are scraped every 200 ms (far more often than any Prometheus would): the comparison then
    // isolates the per-request instrumentation, and the instrumented runs give the scrape latency under load.
    const instrumented = await measure(true);
    on.push(instrumented.load);
    scrapes.push(...instrumented.scrapeMs);
    off.push((await measure(false)).load);
  }
  const summary = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
    settings: { workers, connections, durationSeconds, rounds },
    instrumented: {
      requestsPerSecond: mean(on.map((r) => r.requestsPerSecond)),
      p99Ms: mean(on.map((r) => r.p99Ms)),
      runs: on,
    },
    baseline: {
      requestsPerSecond: mean(off.map((r) => r.requestsPerSecond)),
      p99Ms: mean(off.map((r) => r.p99Ms)),
      runs: off,
    },
    scrapeUnderLoad: {
      count: scrapes.length,
      p50Ms: percentile(scrapes, 50),
      p99Ms: percentile(scrapes, 99),
      maxMs: Math.max(...scrapes),
    },
  };
  const throughputRatio = summary.instrumented.requestsPerSecond / summary.baseline.requestsPerSecond;
  printTable([
    {
      variant: 'instrumentation off (baseline)',
      'req/s': summary.baseline.requestsPerSecond,
      'p99 ms': summary.baseline.p99Ms,
      ratio: 1,
    },
    {
      variant: 'instrumentation on',
      'req/s': summary.instrumented.requestsPerSecond,
      'p99 ms': summary.instrumented.p99Ms,
      ratio: throughputRatio,
    },
  ]);
  console.log(
    `/metrics under load: ${summary.scrapeUnderLoad.count} scrapes, p50 ${summary.scrapeUnderLoad.p50Ms.toFixed(1)} ms, p99 ${summary.scrapeUnderLoad.p99Ms.toFixed(1)} ms`,
  );
  console.log(
    `throughput ratio ${throughputRatio.toFixed(3)} (target ≥ 0.95); scrape p99 ${summary.scrapeUnderLoad.p99Ms.toFixed(1)} ms (target ≤ 100 ms)`,
  );
  const sent = [...on, ...off].reduce((n, r) => n + r.sent, 0);
  const failed = [...on, ...off].reduce((n, r) => n + r.failed, 0);
  const cut = [...on, ...off].reduce((n, r) => n + r.inFlightAtEnd, 0);
  console.log(
    `${sent} requests sent, ${cut} still in flight when runs ended, ${failed} of the rest not 2xx (${((100 * (sent - cut - failed)) / Math.max(1, sent - cut)).toFixed(2)} % ok)`,
  );
  console.log(`written ${writeResult('bench-metrics', { ...summary, throughputRatio })}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

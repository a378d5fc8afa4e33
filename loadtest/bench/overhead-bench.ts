import { testDatabaseUrl } from '../../test/helpers/test-database.js';
import { benchToken, metricValue, startBaseline, startProduct } from './bench-processes.js';
import { mean, runLoad, type LoadResult } from './bench-support.js';

export interface OverheadResult {
  readonly product: { requestsPerSecond: number; p99Ms: number; runs: LoadResult[] };
  readonly baseline: { requestsPerSecond: number; p99Ms: number; runs: LoadResult[] };
  readonly poolSize: number;
  readonly throughputRatio: number;
  readonly p99Ratio: number;
}

/**
 * Benchmark 1 (issue 5): /api/me through the product vs the minimal koa + mysql2 server of
 * loadtest/baseline/, same workers, same pool size, same SQL, interleaved rounds.
 * Targets: throughput ≥ 0.85×, p99 ≤ 1.2×.
 */
export async function overheadBench(options: { workers: number; connections: number; durationSeconds: number; rounds: number }): Promise<OverheadResult> {
  const databaseUrl = process.env['BENCH_DATABASE_URL'] ?? testDatabaseUrl('app_bench');
  const product: LoadResult[] = [];
  const baseline: LoadResult[] = [];
  let poolSize = 0;
  const load = (url: string, token: string, durationSeconds = options.durationSeconds) =>
    runLoad({ url: `${url}/api/me`, connections: options.connections, durationSeconds, headers: { authorization: `Bearer ${token}` } });
  for (let round = 0; round < options.rounds; round++) {
    const cluster = await startProduct({ WORKERS: String(options.workers), DATABASE_URL: databaseUrl });
    let token: string;
    try {
      token = await benchToken(cluster.url);
      poolSize = await metricValue(cluster, 'db_pool_budget_per_worker_connections');
      await load(cluster.url, token, 2); // warm-up
      product.push(await load(cluster.url, token));
    } finally {
      await cluster.stop();
    }
    const server = await startBaseline({ WORKERS: String(options.workers), DATABASE_URL: databaseUrl, MODE: 'pool', POOL_SIZE: String(poolSize) });
    try {
      await load(server.url, token, 2);
      baseline.push(await load(server.url, token));
    } finally {
      await server.stop();
    }
  }
  const summary = (runs: LoadResult[]) => ({ requestsPerSecond: mean(runs.map((r) => r.requestsPerSecond)), p99Ms: mean(runs.map((r) => r.p99Ms)), runs });
  const p = summary(product);
  const b = summary(baseline);
  return { product: p, baseline: b, poolSize, throughputRatio: p.requestsPerSecond / b.requestsPerSecond, p99Ratio: p.p99Ms / b.p99Ms };
}

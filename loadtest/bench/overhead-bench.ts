import { testDatabaseUrl } from '../../harness/test-database.js';
import { benchToken, metricValue, startBaseline, startProduct } from './bench-processes.js';
import { runAutocannon, type LoadResult } from './autocannon-load.js';
import { mean } from './bench-results.js';

export interface VariantSummary {
  readonly requestsPerSecond: number;
  readonly p99Ms: number;
  readonly runs: LoadResult[];
}

export interface OverheadResult {
  /** As shipped: LOG_LEVEL=info, one log line per request. */
  readonly product: VariantSummary;
  /** LOG_LEVEL=warn: what the product costs apart from its per-request log line. */
  readonly productQuiet: VariantSummary;
  readonly baseline: VariantSummary;
  readonly poolSize: number;
  readonly throughputRatio: number;
  readonly p99Ratio: number;
  readonly quietThroughputRatio: number;
  readonly quietP99Ratio: number;
}

/**
 * Benchmark 1: /api/me through the product vs the minimal koa + mysql2 server of
 * loadtest/baseline/ (no logging, validation, metrics or error handling), same workers, same pool size,
 * same SQL, in interleaved rounds. Targets: throughput ≥ 0.85×, p99 ≤ 1.2×.
 */
export async function overheadBench(options: {
  workers: number;
  connections: number;
  durationSeconds: number;
  rounds: number;
}): Promise<OverheadResult> {
  const databaseUrl = process.env['BENCH_DATABASE_URL'] ?? testDatabaseUrl('app_bench');
  const runs: Record<'product' | 'productQuiet' | 'baseline', LoadResult[]> = {
    product: [],
    productQuiet: [],
    baseline: [],
  };
  let poolSize = 0;
  let token = '';
  const load = (url: string, durationSeconds = options.durationSeconds) =>
    runAutocannon({
      url: `${url}/api/me`,
      connections: options.connections,
      durationSeconds,
      headers: { authorization: `Bearer ${token}` },
    });
  const measureProduct = async (logLevel: string, into: LoadResult[]) => {
    const cluster = await startProduct({
      WORKERS: String(options.workers),
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: logLevel,
    });
    try {
      token = await benchToken(cluster.url);
      poolSize = await metricValue(cluster, 'db_pool_budget_per_worker_connections');
      await load(cluster.url, 2); // warm-up: JIT, pool connections, prepared statements
      into.push(await load(cluster.url));
    } finally {
      await cluster.stop();
    }
  };
  for (let round = 0; round < options.rounds; round++) {
    await measureProduct('info', runs.product);
    const server = await startBaseline({
      WORKERS: String(options.workers),
      DATABASE_URL: databaseUrl,
      MODE: 'pool',
      POOL_SIZE: String(poolSize),
    });
    try {
      await load(server.url, 2);
      runs.baseline.push(await load(server.url));
    } finally {
      await server.stop();
    }
    await measureProduct('warn', runs.productQuiet);
  }
  const summary = (variant: LoadResult[]): VariantSummary => ({
    requestsPerSecond: mean(variant.map((r) => r.requestsPerSecond)),
    p99Ms: mean(variant.map((r) => r.p99Ms)),
    runs: variant,
  });
  const product = summary(runs.product);
  const productQuiet = summary(runs.productQuiet);
  const baseline = summary(runs.baseline);
  return {
    product,
    productQuiet,
    baseline,
    poolSize,
    throughputRatio: product.requestsPerSecond / baseline.requestsPerSecond,
    p99Ratio: product.p99Ms / baseline.p99Ms,
    quietThroughputRatio: productQuiet.requestsPerSecond / baseline.requestsPerSecond,
    quietP99Ratio: productQuiet.p99Ms / baseline.p99Ms,
  };
}

import { testDatabaseUrl } from '../../harness/test-database.js';
import { benchToken, startBaseline, startProduct } from './bench-processes.js';
import { runSteadyLoad, type LoadResult } from './steady-load.js';

export type Variant = 'product' | 'unbatched' | 'koa' | 'bare';

export interface OverheadRow {
  readonly connections: number;
  /** Each variant's runs at this many connections, one per round. */
  readonly runs: Readonly<Record<Variant, readonly LoadResult[]>>;
  /** Per round: the product's req/s ÷ the koa baseline's, and its p99 ÷ theirs; the same for the others. */
  readonly throughputRatios: readonly number[];
  readonly p99Ratios: readonly number[];
  readonly unbatchedThroughputRatios: readonly number[];
  readonly unbatchedP99Ratios: readonly number[];
  readonly bareThroughputRatios: readonly number[];
  readonly bareP99Ratios: readonly number[];
}

export interface OverheadResult {
  readonly poolSize: number;
  readonly rows: readonly OverheadRow[];
}

/**
 * Benchmark 1: GET /api/me through the product as shipped against the hand-written koa + mysql2 server of
 * loadtest/baseline/ (no logging, validation, metrics, deadlines or error handling) and against the same lookup on
 * bare node:http + mysql2: same workers, same pool size, same SQL's answer, at each connection count, the variants
 * alternating within every round so that a change of the machine's pace hits them alike. Ratios are taken per round.
 */
export async function overheadBench(options: {
  workers: number;
  connections: readonly number[];
  durationSeconds: number;
  rounds: number;
  poolSize: number;
}): Promise<OverheadResult> {
  const databaseUrl = process.env['BENCH_DATABASE_URL'] ?? testDatabaseUrl('app_bench');
  const runs = new Map(
    options.connections.map((c) => [
      c,
      { product: [], unbatched: [], koa: [], bare: [] } as Record<Variant, LoadResult[]>,
    ]),
  );
  let token = '';
  const load = (url: string, connections: number, durationSeconds = options.durationSeconds) =>
    runSteadyLoad({
      url: `${url}/api/me`,
      connections,
      durationSeconds,
      headers: { authorization: `Bearer ${token}` },
    });
  const measure = async (variant: Variant, url: string) => {
    for (const connections of options.connections) {
      await load(url, connections, 2); // warm-up: JIT, pool connections, prepared statements
      runs.get(connections)![variant].push(await load(url, connections));
    }
  };
  const pool = String(options.poolSize);
  for (let round = 0; round < options.rounds; round++) {
    // As shipped, and with every session lookup its own statement: what answering lookups together buys.
    for (const [variant, concurrency] of [
      ['product', undefined],
      ['unbatched', '0'],
    ] as const) {
      const cluster = await startProduct({
        WORKERS: String(options.workers),
        DATABASE_URL: databaseUrl,
        DB_POOL_MAX: pool,
        ...(concurrency === undefined ? {} : { SESSION_LOOKUP_CONCURRENCY: concurrency }),
      });
      try {
        token = await benchToken(cluster.url);
        await measure(variant, cluster.url);
      } finally {
        await cluster.stop();
      }
    }
    for (const [variant, mode] of [
      ['koa', 'pool'],
      ['bare', 'bare'],
    ] as const) {
      const server = await startBaseline({
        WORKERS: String(options.workers),
        DATABASE_URL: databaseUrl,
        MODE: mode,
        POOL_SIZE: pool,
      });
      try {
        await measure(variant, server.url);
      } finally {
        await server.stop();
      }
    }
  }
  const ratios = (a: readonly LoadResult[], b: readonly LoadResult[], of: (r: LoadResult) => number) =>
    a.map((run, i) => of(run) / of(b[i]!));
  return {
    poolSize: options.poolSize,
    rows: options.connections.map((connections) => {
      const r = runs.get(connections)!;
      return {
        connections,
        runs: r,
        throughputRatios: ratios(r.product, r.koa, (x) => x.requestsPerSecond),
        p99Ratios: ratios(r.product, r.koa, (x) => x.p99Ms),
        unbatchedThroughputRatios: ratios(r.unbatched, r.koa, (x) => x.requestsPerSecond),
        unbatchedP99Ratios: ratios(r.unbatched, r.koa, (x) => x.p99Ms),
        bareThroughputRatios: ratios(r.bare, r.koa, (x) => x.requestsPerSecond),
        bareP99Ratios: ratios(r.bare, r.koa, (x) => x.p99Ms),
      };
    }),
  };
}

/** The median of per-round ratios, with their range: "1.04 (0.98–1.09, 5 runs)". A stray round moves no median. */
export function ratioSummary(values: readonly number[]): { median: number; text: string } {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return {
    median,
    text: `${median.toFixed(2)} (${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)}, ${values.length} runs)`,
  };
}

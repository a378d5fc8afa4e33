import { benchToken, startBaseline, startProduct } from './bench-processes.js';
import { serverBuckets, serverQuantileMs } from './server-latency.js';
import { runWrk, type WrkResult } from './wrk.js';

export interface TailRun {
  readonly name: string;
  readonly load: WrkResult;
  /** The server's own p99 (its histogram's bucket), NaN for the baseline, which has no histogram. */
  readonly serverP99Ms: number;
}

export interface TailResult {
  readonly connections: number;
  readonly product: TailRun;
  readonly others: readonly TailRun[];
  readonly baseline: TailRun;
  /** The product's client-side p99 over the baseline's: the target is ≤ 0.5. */
  readonly p99Ratio: number;
}

/**
 * The tail at 1,000 connections: `wrk -c1000` on /api/me against the product as shipped, the product accepting the
 * way it did before (`primary`) and with one socket per worker, and the minimal hand-written koa + mysql2 cluster
 * (the baseline), one after the other in the same run: client-side p50/p90/p99 (wrk's, corrected for coordinated
 * omission), the share answered within 10 s, and the server's own p99 beside them. Target: the product's p99 ≤ 0.5×
 * the baseline's, ≥ 99.9 % answered within 10 s.
 */
export async function tailBench(options: {
  readonly workers: number;
  readonly durationSeconds: number;
  readonly listeners: number;
  readonly databaseUrl: string;
  readonly withOthers?: boolean;
}): Promise<TailResult> {
  const connections = 1000;
  const productEnv = { WORKERS: String(options.workers), DATABASE_URL: options.databaseUrl, LOG_LEVEL: 'warn' };
  const tail = async (
    name: string,
    start: () => Promise<{ url: string; metricsPort?: number; stop: () => Promise<void> }>,
    token?: string,
  ): Promise<TailRun & { token: string }> => {
    const server = await start();
    try {
      const auth = token ?? (await benchToken(server.url));
      const metricsUrl =
        server.metricsPort === undefined ? undefined : `http://127.0.0.1:${server.metricsPort}/metrics`;
      const before = metricsUrl === undefined ? undefined : await serverBuckets(metricsUrl);
      const load = await runWrk({
        url: `${server.url}/api/me`,
        connections,
        threads: 2,
        durationSeconds: options.durationSeconds,
        timeoutSeconds: 10,
        headers: { authorization: `Bearer ${auth}` },
      });
      const serverP99Ms =
        metricsUrl === undefined || before === undefined
          ? Number.NaN
          : serverQuantileMs(before, await serverBuckets(metricsUrl), 0.99);
      return { name, token: auth, load, serverP99Ms };
    } finally {
      await server.stop();
    }
  };
  const product = await tail('product as shipped', () =>
    startProduct({ ...productEnv, HTTP_LISTENERS_PER_WORKER: String(options.listeners) }),
  );
  const others =
    options.withOthers === false
      ? []
      : [
          await tail('product, HTTP_ACCEPT=primary (the default before)', () =>
            startProduct({ ...productEnv, HTTP_ACCEPT: 'primary' }),
          ),
          await tail('product, reuseport, 1 socket per worker', () =>
            startProduct({ ...productEnv, HTTP_LISTENERS_PER_WORKER: '1' }),
          ),
        ];
  const baseline = await tail(
    'hand-written koa + mysql2 (node default backlog 511)',
    () => startBaseline({ WORKERS: String(options.workers), DATABASE_URL: options.databaseUrl, MODE: 'pool' }),
    // The product's session, in the same database: the baseline reads it with the same query.
    product.token,
  );
  const strip = ({ token: _token, ...run }: TailRun & { token: string }): TailRun => run;
  return {
    connections,
    product: strip(product),
    others: others.map(strip),
    baseline: strip(baseline),
    p99Ratio: product.load.p99Ms / baseline.load.p99Ms,
  };
}

/** One table row per server, the ratio against the baseline last. */
export function tailLines(result: TailResult): Record<string, string | number>[] {
  return [result.product, ...result.others, result.baseline].map(({ name, load, serverP99Ms }) => ({
    server: name,
    sent: load.sent,
    '% answered ≤ 10 s': `${((100 * load.answered) / Math.max(1, load.sent)).toFixed(2)} %`,
    '% ok': `${((100 * load.ok) / Math.max(1, load.sent)).toFixed(2)} %`,
    'p50 ms': load.p50Ms,
    'p90 ms': load.p90Ms,
    'p99 ms': load.p99Ms,
    'server p99 ms': Number.isNaN(serverP99Ms) ? '(none)' : serverP99Ms,
    'p99 vs baseline':
      name === result.baseline.name
        ? '1'
        : `${(load.p99Ms / result.baseline.load.p99Ms).toFixed(2)}${name === result.product.name ? ' (target ≤ 0.5)' : ''}`,
  }));
}

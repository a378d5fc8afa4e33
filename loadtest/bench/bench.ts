import os from 'node:os';
import { loginBench, type LoginRound } from './login-bench.js';
import { originalFailureBench } from './original-failure-bench.js';
import type { LoadResult } from './steady-load.js';
import { overheadBench, ratioSummary } from './overhead-bench.js';
import { startThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { tailBench } from './tail-bench.js';
import { numberFlag, stringFlag } from './bench-flags.js';
import { printTable, writeResult } from './bench-results.js';

/*
 * `npm run bench [-- --only overhead|failure|login|tail] [--duration S] [--rounds N]`. Each figure is a
 * ratio against a baseline measured in the same run: these machines are noisy, absolute numbers are not
 * comparable between runs. Writes loadtest/results/bench.json.
 */

const only = stringFlag('only');
const durationSeconds = numberFlag('duration', 10);
const rounds = numberFlag('rounds', 2);
const workers = numberFlag('workers', 2);
const wants = (name: string) => only === undefined || only === name;

async function main(): Promise<void> {
  const machine = {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
  console.log(
    `bench — ${machine.cpus} × ${machine.model}, ${machine.memoryGiB} GiB, Node ${machine.node}; ${workers} workers, ${durationSeconds} s per run`,
  );
  const results: Record<string, unknown> = { machine, settings: { workers, durationSeconds, rounds } };
  const rows: Record<string, string | number>[] = [];
  // Targets a run did not meet: the bench says so and exits 1.
  const missed: string[] = [];

  if (wants('overhead')) {
    const r = await overheadBench({ workers, connections: [50, 100], durationSeconds, rounds, poolSize: 10 });
    results['overhead'] = r;
    for (const row of r.rows) {
      const mean = (runs: readonly LoadResult[], of: (run: LoadResult) => number) =>
        (runs.reduce((sum, run) => sum + of(run), 0) / runs.length).toFixed(0);
      const throughput = ratioSummary(row.throughputRatios);
      const p99 = ratioSummary(row.p99Ratios);
      rows.push(
        {
          benchmark: `1. /api/me, ${row.connections} conns, pool ${r.poolSize}/worker`,
          measure: 'throughput vs hand-written koa+mysql2',
          value: `${mean(row.runs.product, (x) => x.requestsPerSecond)} vs ${mean(row.runs.koa, (x) => x.requestsPerSecond)} req/s`,
          ratio: throughput.text,
          target: '≥ 1.0',
        },
        {
          benchmark: '',
          measure: 'p99 vs hand-written koa+mysql2',
          value: `${mean(row.runs.product, (x) => x.p99Ms)} vs ${mean(row.runs.koa, (x) => x.p99Ms)} ms`,
          ratio: p99.text,
          target: '≤ 1.0',
        },
        {
          benchmark: '',
          measure: 'product, each session lookup its own statement',
          value: `${mean(row.runs.unbatched, (x) => x.requestsPerSecond)} req/s, p99 ${mean(row.runs.unbatched, (x) => x.p99Ms)} ms`,
          ratio: `${ratioSummary(row.unbatchedThroughputRatios).text}; p99 ${ratioSummary(row.unbatchedP99Ratios).text}`,
          target: '(SESSION_LOOKUP_CONCURRENCY=0)',
        },
        {
          benchmark: '',
          measure: 'bare node:http + mysql2 vs koa+mysql2',
          value: `${mean(row.runs.bare, (x) => x.requestsPerSecond)} req/s, p99 ${mean(row.runs.bare, (x) => x.p99Ms)} ms`,
          ratio: `${ratioSummary(row.bareThroughputRatios).text}; p99 ${ratioSummary(row.bareP99Ratios).text}`,
          target: '(the ceiling)',
        },
      );
      if (throughput.median < 1)
        missed.push(`/api/me throughput at ${row.connections} connections: ${throughput.text}`);
      if (p99.median > 1) missed.push(`/api/me p99 at ${row.connections} connections: ${p99.text}`);
    }
  }
  if (wants('failure')) {
    const r = await originalFailureBench({ workers, connections: 1000, durationSeconds });
    results['originalFailure'] = r;
    for (const [name, run] of [
      ['product', r.product],
      ['connection per request', r.connectionPerRequest],
    ] as const) {
      rows.push({
        benchmark: name === 'product' ? `2. 1000 conns, max_connections ${r.maxConnections}` : '',
        measure: name,
        value: `${run.requests} sent (${run.inFlightAtEnd} still in flight at the end), ${(run.successRate * 100).toFixed(2)} % of the rest ok, ${run.failed} not ok, ${run.refusedByMysql} refused (1040), max used ${run.maxUsedConnections}, p99 ${run.p99Ms} ms`,
        // The product's ratio is MySQL's peak connection count over the budget (≤ 1 means the budget held); the
        // connection-per-request server has no budget to compare with.
        ratio: name === 'product' ? `${(run.maxUsedConnections / r.budgetUsable).toFixed(2)} used/budget` : '',
        target: name === 'product' ? `0 refused, ≥ 99.9 %, max used ≤ budget ${r.budgetUsable}` : '(the failure)',
      });
    }
  }
  if (wants('login')) {
    // 6 connections: well within what admission control admits (per worker: 2 hashing + 10 queued), so this
    // measures login throughput at saturation, not shedding (that is test/chaos/login-overload).
    const r = await loginBench({ workers, connections: 6, durationSeconds, rounds, hashCost: 14 });
    results['login'] = r;
    const mean = (of: (round: LoginRound) => number) => r.rounds.reduce((sum, x) => sum + of(x), 0) / r.rounds.length;
    rows.push(
      {
        benchmark: `3. login, scrypt ln=${r.hashCost}`,
        measure: 'logins/s vs raw scrypt/s, same cores',
        value: `${mean((x) => x.loginsPerSecond).toFixed(1)} vs ${mean((x) => x.rawKdfPerSecond).toFixed(1)}/s, p99 ${mean((x) => x.loginP99Ms).toFixed(0)} ms, ${mean((x) => x.failedLogins).toFixed(0)} of ${mean((x) => x.sentLogins).toFixed(0)} sent not ok (mean per run)`,
        ratio: r.ratio.text,
        target: '≥ 0.9',
      },
      {
        benchmark: '',
        measure: 'hand-written koa + mysql2 login, same statements, vs raw scrypt/s',
        value: `${mean((x) => x.baselineLoginsPerSecond).toFixed(1)}/s, p99 ${mean((x) => x.baselineP99Ms).toFixed(0)} ms`,
        ratio: r.baselineRatio.text,
        target: '(no target)',
      },
      {
        benchmark: '',
        measure: 'product logins/s ÷ hand-written logins/s',
        value: '',
        ratio: r.versusBaseline.text,
        target: '(no target)',
      },
      {
        benchmark: '',
        measure: 'CPU per login, product vs hand-written (ms, median); ratio: event loops',
        value: (['eventLoops', 'mariadb', 'loadGenerator', 'otherThreads'] as const)
          .map((part) => {
            const median = (of: (round: LoginRound) => number) => ratioSummary(r.rounds.map(of)).median.toFixed(2);
            const label = {
              eventLoops: 'event loops',
              mariadb: 'MariaDB',
              loadGenerator: 'load generator',
              otherThreads: 'hash and V8',
            }[part];
            return `${label} ${median((x) => x.productCpu[part])} vs ${median((x) => x.baselineCpu[part])}`;
          })
          .join('; '),
        ratio: ratioSummary(r.rounds.map((x) => x.productCpu.eventLoops / x.baselineCpu.eventLoops)).text,
        target: '(no target)',
      },
      {
        benchmark: '',
        measure: "statements per login (MySQL's Com_stmt_execute); value: everything asked (Questions) per login",
        value: r.questionsPerLogin.text,
        ratio: r.statementsPerLogin.text,
        target: '≤ 4',
      },
    );
    if (r.ratio.median < 0.9) missed.push(`logins ÷ raw scrypt: ${r.ratio.text}`);
    if (r.statementsPerLogin.median > 4) missed.push(`statements per login: ${r.statementsPerLogin.text}`);
  }
  if (wants('tail')) {
    // With wrk (apt-get install wrk); `npm run bench:storm` adds the other ways of accepting connections.
    const mariadb = await startThrowawayMariadb();
    try {
      const r = await tailBench({
        workers,
        durationSeconds,
        listeners: 16,
        databaseUrl: mariadb.url,
        withOthers: false,
      });
      results['tail'] = r;
      if (r.p99Ratio > 0.5) missed.push(`1,000-connection tail, client p99 ÷ baseline: ${r.p99Ratio.toFixed(2)}`);
      const answered = (run: typeof r.product) =>
        `${((100 * run.load.answered) / Math.max(1, run.load.sent)).toFixed(2)} % of ${run.load.sent} answered ≤ 10 s`;
      rows.push(
        {
          benchmark: `4. tail, ${r.connections} conns (wrk)`,
          measure: 'client p99 vs hand-written koa+mysql2',
          value: `${r.product.load.p99Ms} vs ${r.baseline.load.p99Ms} ms (p50 ${r.product.load.p50Ms} vs ${r.baseline.load.p50Ms} ms)`,
          ratio: Number(r.p99Ratio.toFixed(2)),
          target: '≤ 0.5',
        },
        {
          benchmark: '',
          measure: "product: the server's own p99",
          value: `≤ ${r.product.serverP99Ms} ms (its histogram's bucket; the baseline has none)`,
          ratio: '',
          target: '',
        },
        {
          benchmark: '',
          measure: 'answered within 10 s',
          value: `product ${answered(r.product)}; baseline ${answered(r.baseline)}`,
          ratio: Number((r.product.load.answered / Math.max(1, r.product.load.sent)).toFixed(4)),
          target: '≥ 0.999',
        },
      );
    } finally {
      await mariadb.destroy();
    }
  }
  printTable(rows);
  console.log(`written ${writeResult('bench', results)}`);
  if (missed.length > 0) {
    console.error(`\ntargets missed:\n  ${missed.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

import { setTimeout as sleep } from 'node:timers/promises';
import { testDatabaseUrl } from '../../harness/test-database.js';
import { scrape, type Scrape } from '../../harness/scrape.js';
import { benchToken, startProduct } from './bench-processes.js';
import { runSteadyLoad, successRate } from './steady-load.js';
import { numberFlag } from './bench-flags.js';
import { printTable, writeResult } from './bench-results.js';

/*
 * `npm run bench:soak [-- --minutes N] [--rate R] [--workers W]`: steady load on /api/me at a fixed rate (not
 * saturation: a soak looks for growth, not limits) while /metrics is sampled every 5 s. For each worker it reports
 * resident memory, V8 heap, open file descriptors, event-loop lag and its pool's connections, at the end of the
 * warm-up (2 minutes, or 40 % of a shorter run) and at the end. Targets: RSS grows < 10 % after the warm-up; file
 * descriptors and pool connections do not grow. Writes loadtest/results/bench-soak.json.
 */

const minutes = numberFlag('minutes', 5);
const rate = numberFlag('rate', 1000);
const workers = numberFlag('workers', 2);
const sampleEveryMs = 5000;

interface Sample {
  readonly atS: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly openFds: number;
  readonly lagP99Ms: number;
  readonly poolConnections: number;
}

function perWorker(s: Scrape, atS: number): Map<string, Sample> {
  const byWorker = new Map<string, Sample>();
  const value = (name: string, worker: string) => s.sum(name, { worker });
  for (const series of s.series('process_resident_memory_bytes')) {
    const worker = series.labels['worker'];
    if (worker === undefined || worker === 'primary') continue;
    byWorker.set(worker, {
      atS,
      rssMiB: value('process_resident_memory_bytes', worker) / 2 ** 20,
      heapUsedMiB: value('nodejs_heap_size_used_bytes', worker) / 2 ** 20,
      openFds: value('process_open_fds', worker),
      lagP99Ms: value('nodejs_eventloop_lag_p99_seconds', worker) * 1000,
      poolConnections: value('db_client_connection_count', worker),
    });
  }
  return byWorker;
}

async function main(): Promise<void> {
  const durationSeconds = Math.round(minutes * 60);
  const warmUpS = Math.min(120, Math.round(durationSeconds * 0.4));
  const cluster = await startProduct({
    WORKERS: String(workers),
    DATABASE_URL: process.env['BENCH_DATABASE_URL'] ?? testDatabaseUrl('app_bench_soak'),
  });
  try {
    const token = await benchToken(cluster.url);
    console.log(
      `bench:soak — ${minutes} min at ${rate} req/s on /api/me, ${workers} workers; warm-up ${warmUpS} s, sampling every ${sampleEveryMs / 1000} s`,
    );
    const metricsUrl = `http://127.0.0.1:${cluster.metricsPort}/metrics`;
    const samples = new Map<string, Sample[]>();
    const started = performance.now();
    let loadDone = false;
    const load = runSteadyLoad({
      url: `${cluster.url}/api/me`,
      connections: 50,
      durationSeconds,
      overallRate: rate,
      headers: { authorization: `Bearer ${token}` },
    }).finally(() => {
      loadDone = true;
    });
    while (!loadDone) {
      await Promise.race([sleep(sampleEveryMs), load]);
      if (loadDone) break;
      const atS = (performance.now() - started) / 1000;
      for (const [worker, sample] of perWorker(await scrape(metricsUrl), atS))
        samples.set(worker, [...(samples.get(worker) ?? []), sample]);
    }
    const result = await load;
    const rows = [...samples].map(([worker, series]) => {
      const warm = series.find((s) => s.atS >= warmUpS) ?? series[0]!;
      const end = series.at(-1)!;
      const growth = (end.rssMiB - warm.rssMiB) / warm.rssMiB;
      return {
        worker,
        'RSS MiB warm → end': `${warm.rssMiB.toFixed(0)} → ${end.rssMiB.toFixed(0)}`,
        'RSS growth': `${(growth * 100).toFixed(1)} %`,
        'RSS max MiB': Math.max(...series.map((s) => s.rssMiB)),
        'heap MiB warm → end': `${warm.heapUsedMiB.toFixed(0)} → ${end.heapUsedMiB.toFixed(0)}`,
        'fds warm → end': `${warm.openFds} → ${end.openFds}`,
        'pool conns warm → end': `${warm.poolConnections} → ${end.poolConnections}`,
        'lag p99 max ms': Math.max(...series.map((s) => s.lagP99Ms)),
        verdict:
          growth < 0.1 && end.openFds <= warm.openFds + 2 && end.poolConnections <= warm.poolConnections
            ? 'ok'
            : 'GROWS',
      };
    });
    printTable(rows);
    console.log(
      `${result.sent} requests sent, ${result.inFlightAtEnd} not ended when the run stopped, ${result.ok} 2xx (${(100 * successRate(result)).toFixed(3)} % of those that ended), p99 ${result.p99Ms} ms`,
    );
    console.log(
      `written ${writeResult('bench-soak', { minutes, rate, workers, warmUpS, load: result, samples: Object.fromEntries(samples) })}`,
    );
  } finally {
    await cluster.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { startThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { benchToken, metricValue, startProduct } from './bench-processes.js';
import { numberFlag, stringFlag } from './bench-flags.js';
import { printTable, writeResult } from './bench-results.js';
import { serverBuckets, serverQuantileMs } from './server-latency.js';
import { tailBench, tailLines } from './tail-bench.js';
import { runWrk, type WrkResult } from './wrk.js';

/*
 * `npm run bench:storm [-- --connections 10000] [--duration 15] [--only storm|reload|tail] [--listeners 16]`,
 * with wrk (apt-get install wrk).
 *
 * storm: `wrk -t2 -c<connections>` on /api/me against the product as shipped (HTTP_ACCEPT=reuseport, `--listeners`
 *   sockets per worker, the request line) and with each other way of accepting connections (primary with backlog
 *   4096 and Node's 511, shared, reuseport with one socket, reuseport without the request line), against a throwaway
 *   MariaDB at its default max_connections (151). Per variant: every request sent, client timeouts and socket
 *   errors, the kernel's listen-queue overflows (TcpExtListenOverflows, machine-wide), non-2xx, MySQL's refused
 *   connections and peak use against the budget, and latency as the client saw it beside what the server's own
 *   histogram saw (which counts the wait in the request line, not the wait to be accepted).
 * reload: the same burst with two rolling reloads during it, as shipped and with `primary`: read errors are
 *   connections reset under the client.
 * tail: `wrk -c1000` on /api/me, the product (as shipped, with `primary`, and with one reuseport socket per worker)
 *   against the minimal hand-written koa + mysql2 cluster (the baseline) in the same run: client-side
 *   p50/p90/p99, the share answered within 10 s, and the server's own p99.
 *
 * wrk's percentiles are corrected for coordinated omission: a response that took k times the run's mean interval
 * between two requests of a connection is counted again at every multiple of that interval below it. A connection
 * whose first request waited 5 s to be accepted adds ~100 samples between 50 ms and 5 s, so a few hundred late
 * first requests make the p90 and p99 (docs/storm-investigation.md).
 *
 * Writes loadtest/results/bench-storm.json.
 */

const connections = numberFlag('connections', 10_000);
const durationSeconds = numberFlag('duration', 15);
const workers = numberFlag('workers', 2);
const only = stringFlag('only');
const listeners = numberFlag('listeners', 16);
const reloadAtSeconds = Math.max(1, Math.floor(durationSeconds / 3));

/** TcpExt counters of the whole machine (/proc/net/netstat): what the kernel dropped before anyone accepted. */
function tcpExt(): Record<string, number> {
  const lines = readFileSync('/proc/net/netstat', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('TcpExt:'));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((name, i) => [name, values[i]!]));
}

interface StormRow {
  readonly variant: string;
  readonly load: WrkResult;
  readonly listenOverflows: number;
  readonly listenDrops: number;
  readonly refusedByMysql: number;
  readonly maxUsedConnections: number;
  readonly budget: number;
  readonly serverP99Ms: number;
}

function stormLine(r: StormRow): Record<string, string | number> {
  return {
    variant: r.variant,
    sent: r.load.sent,
    '% ok': `${((100 * r.load.ok) / Math.max(1, r.load.sent)).toFixed(2)} %`,
    timeouts: r.load.errors.timeout,
    'connect/read/write errors': `${r.load.errors.connect}/${r.load.errors.read}/${r.load.errors.write}`,
    non2xx: r.load.non2xx,
    'listen overflows': r.listenOverflows,
    'MySQL refused': r.refusedByMysql,
    'max used / budget': `${r.maxUsedConnections} / ${r.budget}`,
    'client p50 / p99 ms': `${r.load.p50Ms.toFixed(0)} / ${r.load.p99Ms.toFixed(0)}`,
    'server p99 ms': r.serverP99Ms,
  };
}

async function main(): Promise<void> {
  const mariadb = await startThrowawayMariadb();
  const admin = await mysql.createConnection(mariadb.url);
  const status = async (name: string) =>
    Number((await admin.query<RowDataPacket[]>('SHOW GLOBAL STATUS LIKE ?', [name]))[0][0]?.['Value'] ?? 0);
  const results: Record<string, unknown> = { connections, durationSeconds, workers };

  /** One burst of `connections` on /api/me against the product with `env`, and `reloads` rolling reloads during it. */
  async function storm(variant: string, env: Record<string, string>, reloads: number): Promise<StormRow> {
    const cluster = await startProduct({
      WORKERS: String(workers),
      DATABASE_URL: mariadb.url,
      LOG_LEVEL: 'warn',
      ...(env['HTTP_ACCEPT'] === undefined ? { HTTP_LISTENERS_PER_WORKER: String(listeners) } : {}),
      ...env,
    });
    try {
      const token = await benchToken(cluster.url);
      const metricsUrl = `http://127.0.0.1:${cluster.metricsPort}/metrics`;
      await admin.query('FLUSH STATUS');
      const refusedBefore = await status('Connection_errors_max_connections');
      const kernelBefore = tcpExt();
      const bucketsBefore = await serverBuckets(metricsUrl);
      const running = runWrk({
        url: `${cluster.url}/api/me`,
        connections,
        threads: 2,
        durationSeconds,
        timeoutSeconds: 10,
        headers: { authorization: `Bearer ${token}` },
      });
      for (let i = 0; i < reloads; i++) {
        await sleep(reloadAtSeconds * 1000);
        cluster.child.kill('SIGHUP');
      }
      const load = await running;
      const kernelAfter = tcpExt();
      return {
        variant,
        load,
        listenOverflows: (kernelAfter['ListenOverflows'] ?? 0) - (kernelBefore['ListenOverflows'] ?? 0),
        listenDrops: (kernelAfter['ListenDrops'] ?? 0) - (kernelBefore['ListenDrops'] ?? 0),
        refusedByMysql: (await status('Connection_errors_max_connections')) - refusedBefore,
        maxUsedConnections: await status('Max_used_connections'),
        budget: await metricValue(cluster, 'db_pool_budget_connections'),
        serverP99Ms: serverQuantileMs(bucketsBefore, await serverBuckets(metricsUrl), 0.99),
      };
    } finally {
      await cluster.stop();
    }
  }

  try {
    if (only === undefined || only === 'storm') {
      const variants: { variant: string; env: Record<string, string> }[] = [
        { variant: `as shipped: reuseport, ${listeners} sockets per worker, request line`, env: {} },
        {
          variant: 'primary accepts (the default before), backlog 4096',
          env: { HTTP_ACCEPT: 'primary', HTTP_LISTEN_BACKLOG: '4096' },
        },
        {
          variant: 'primary accepts, node default backlog 511',
          env: { HTTP_ACCEPT: 'primary', HTTP_LISTEN_BACKLOG: '511' },
        },
        {
          variant: 'workers share the socket, backlog 4096',
          env: { HTTP_ACCEPT: 'shared', HTTP_LISTEN_BACKLOG: '4096' },
        },
        {
          variant: 'reuseport, 1 socket per worker',
          env: { HTTP_LISTENERS_PER_WORKER: '1' },
        },
        {
          variant: `reuseport, ${listeners} sockets per worker, no request line`,
          env: { HTTP_MAX_CONCURRENT_REQUESTS: '0' },
        },
      ];
      const rows: StormRow[] = [];
      for (const { variant, env } of variants) rows.push(await storm(variant, env, 0));
      console.log(
        `storm: wrk -t2 -c${connections} -d${durationSeconds}s --timeout 10s on /api/me, ${workers} workers, MariaDB max_connections 151`,
      );
      printTable(rows.map(stormLine));
      results['storm'] = rows;
    }
    if (only === undefined || only === 'reload') {
      // Two rolling reloads (SIGHUP) during the burst: every worker is replaced twice while connections keep coming.
      const rows = [
        await storm(`as shipped: reuseport, ${listeners} sockets per worker, request line`, {}, 2),
        await storm('primary accepts (the default before), backlog 4096', { HTTP_ACCEPT: 'primary' }, 2),
      ];
      console.log(
        `reload: the storm above with a rolling reload (SIGHUP) at ${reloadAtSeconds} s and ${2 * reloadAtSeconds} s`,
      );
      printTable(rows.map(stormLine));
      results['reload'] = rows;
    }
    if (only === undefined || only === 'tail') {
      const tail = await tailBench({ workers, durationSeconds, listeners, databaseUrl: mariadb.url });
      console.log(`tail: wrk -t2 -c1000 -d${durationSeconds}s --timeout 10s on /api/me, ${workers} workers`);
      printTable(tailLines(tail));
      results['tail'] = tail;
    }
    console.log(`written ${writeResult('bench-storm', results)}`);
  } finally {
    await admin.end();
    await mariadb.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

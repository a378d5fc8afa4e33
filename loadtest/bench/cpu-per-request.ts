import { closeSync, openSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import pino from 'pino';
import { composeWorker } from '../../server/composition/compose-worker.js';
import type { DbConnectionOptions } from '../../server/config/config.js';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { deepFreeze, loadConfig } from '../../server/config/load-config.js';
import { createLogger, createRequestLogger } from '../../server/log/create-logger.js';
import { freshDatabase, testDatabaseUrl } from '../../harness/test-database.js';
import { createBaselineApp } from '../baseline/baseline-app.js';
import { benchToken } from './bench-processes.js';
import { numberFlag } from './bench-flags.js';
import { printTable, writeResult } from './bench-results.js';
import { runSteadyLoadInChild } from './steady-load.js';

/*
 * `npm run bench:cpu`: CPU per `GET /api/me`, the product against the hand-written baseline and against
 * itself without its request lines or its instrumentation. Throughput at saturation (`npm run bench`) swings between runs;
 * this is steadier: every variant runs in this one process on its own port, the benches' steady load drives
 * them at the same fixed arrival rate from a child process (so its CPU is not counted), the rounds are interleaved,
 * and `process.cpuUsage()` divided by the requests served gives µs per request. It is how the overhead was found.
 */

const rate = numberFlag('rate', 4000);
const durationSeconds = numberFlag('duration', 4);
const rounds = numberFlag('rounds', 5);
const poolSize = 8;

interface Variant {
  readonly name: string;
  readonly handler: RequestListener;
  close(): Promise<void>;
}

async function productVariant(
  name: string,
  connection: DbConnectionOptions,
  devNull: number,
  options: { requestLines: boolean; instrumentation: boolean; requestLine?: boolean },
): Promise<Variant> {
  const base = { role: 'worker', worker: 0 };
  const logger = createLogger({ level: 'info', base, destination: pino.destination({ fd: devNull, sync: true }) });
  const requestLog = createRequestLogger({
    level: options.requestLines ? 'info' : 'warn',
    base,
    flushIntervalMs: 1000,
    fd: devNull,
  });
  const parsed = loadConfig({
    DB_MAX_IDLE: String(poolSize),
    PASSWORD_HASH_COST: '10',
    SESSION_TTL_SECONDS: '3600',
    METRICS_INSTRUMENTATION: String(options.instrumentation),
    ...(options.requestLine === false ? { HTTP_MAX_CONCURRENT_REQUESTS: '0' } : {}),
  });
  const config = deepFreeze({ ...parsed, db: { ...parsed.db, connection } });
  const { app, db } = await composeWorker(
    { config, poolMax: poolSize, slot: 0 },
    { logger, requestLog: requestLog.logger, isShuttingDown: () => false },
  );
  return {
    name,
    handler: app.callback(),
    async close() {
      requestLog.close();
      await db.end();
    },
  };
}

/** Drives `url` from a child process (so its CPU is not counted), at the fixed rate or as fast as it answers. */
async function drive(
  url: string,
  token: string,
  seconds: number,
  fixedRate: boolean,
): Promise<{ non2xx: number; errors: number }> {
  const load = await runSteadyLoadInChild({
    url,
    connections: 20,
    durationSeconds: seconds,
    headers: { authorization: `Bearer ${token}` },
    ...(fixedRate ? { overallRate: rate } : {}),
  });
  return { non2xx: load.non2xx, errors: load.errors };
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  const connection = parseDatabaseUrl(process.env['BENCH_DATABASE_URL'] ?? testDatabaseUrl('app_bench_cpu'));
  await (await freshDatabase(connection)).end();
  const devNull = openSync('/dev/null', 'w');
  const baseline = createBaselineApp({ connection, mode: 'pool', poolSize });
  const variants: Variant[] = [
    { name: 'baseline (koa + mysql2 pool)', handler: baseline.app.callback(), close: baseline.close },
    await productVariant('product, as shipped', connection, devNull, { requestLines: true, instrumentation: true }),
    await productVariant('product, request lines off', connection, devNull, {
      requestLines: false,
      instrumentation: true,
    }),
    await productVariant('product, instrumentation off', connection, devNull, {
      requestLines: true,
      instrumentation: false,
    }),
    await productVariant('product, no request line', connection, devNull, {
      requestLines: true,
      instrumentation: true,
      requestLine: false,
    }),
  ];
  const servers: Server[] = [];
  const served = new Map<string, number>();
  const urls = new Map<string, string>();
  for (const variant of variants) {
    served.set(variant.name, 0);
    const server = createServer((req, res) => {
      served.set(variant.name, (served.get(variant.name) ?? 0) + 1);
      variant.handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    urls.set(variant.name, `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/me`);
  }
  try {
    const token = await benchToken(urls.get('product, as shipped')!.replace('/api/me', ''));

    console.log(
      `bench:cpu — ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}; ${rate} req/s for ${durationSeconds} s × ${rounds} rounds per variant, interleaved`,
    );
    for (const variant of variants) await drive(urls.get(variant.name)!, token, 2, false); // warm-up: JIT, pools, statements
    const perRequest = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const variant of variants) {
        const before = served.get(variant.name) ?? 0;
        const cpu = process.cpuUsage();
        const { non2xx, errors } = await drive(urls.get(variant.name)!, token, durationSeconds, true);
        const used = process.cpuUsage(cpu);
        if (non2xx + errors > 0) throw new Error(`${variant.name}: ${non2xx} non-2xx, ${errors} errors`);
        perRequest.get(variant.name)!.push((used.user + used.system) / ((served.get(variant.name) ?? 0) - before));
      }
    }
    const baselineUs = median(perRequest.get(variants[0]!.name)!);
    const rows = variants.map((variant) => {
      const runs = perRequest.get(variant.name)!;
      return {
        variant: variant.name,
        'µs CPU / request (median)': median(runs),
        range: `${Math.min(...runs).toFixed(1)}–${Math.max(...runs).toFixed(1)}`,
        'vs baseline': median(runs) / baselineUs,
      };
    });
    printTable(rows);
    console.log(
      `written ${writeResult('bench-cpu', { rate, durationSeconds, rounds, poolSize, rows, runs: Object.fromEntries(perRequest) })}`,
    );
  } finally {
    for (const server of servers) server.close();
    for (const variant of variants) await variant.close();
    closeSync(devNull);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

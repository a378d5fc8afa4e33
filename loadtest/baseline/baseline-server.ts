import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { createBareHandler, createBaselineApp } from './baseline-app.js';

/* The baselines of baseline-app.ts as a cluster like the product's: WORKERS workers on PORT (MODE pool, bare or
 * per-request; POOL_SIZE). */

const port = Number(process.env['PORT'] ?? 8090);
const workers = Number(process.env['WORKERS'] ?? 2);
const connection = parseDatabaseUrl(process.env['DATABASE_URL'] ?? 'mysql://root@127.0.0.1:3306/app');

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  });
} else {
  const poolSize = Number(process.env['POOL_SIZE'] ?? 10);
  // MODE=bare: node:http and mysql2 alone, no framework.
  const handler =
    process.env['MODE'] === 'bare'
      ? createBareHandler({ connection, poolSize }).handler
      : createBaselineApp({
          connection,
          mode: process.env['MODE'] === 'per-request' ? 'per-request' : 'pool',
          poolSize,
        }).app.callback();
  createServer(handler).listen(port, '127.0.0.1');
}

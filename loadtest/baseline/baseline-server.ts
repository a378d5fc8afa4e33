import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { createBaselineApp } from './baseline-app.js';

/* The baseline of baseline-app.ts as a cluster like the product's: WORKERS workers on PORT (MODE, POOL_SIZE). */

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
  const { app } = createBaselineApp({
    connection,
    mode: process.env['MODE'] === 'per-request' ? 'per-request' : 'pool',
    poolSize: Number(process.env['POOL_SIZE'] ?? 10),
  });
  createServer(app.callback()).listen(port, '127.0.0.1');
}

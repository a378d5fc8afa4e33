import cluster from 'node:cluster';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import Koa from 'koa';
import mysql from 'mysql2/promise';

/*
 * The benchmark's baseline (issue 5): the smallest hand-written koa + mysql2 server that answers
 * GET /api/me with the same SQL as the product. No validation, metrics, logging, budget or error
 * boundary: whatever the product costs beyond this is its overhead.
 *
 * MODE=pool        one mysql2 pool per worker of POOL_SIZE connections (the fair comparison)
 * MODE=per-request a new connection per request, closed afterwards: the system the product replaces
 */

const port = Number(process.env['PORT'] ?? 8090);
const workers = Number(process.env['WORKERS'] ?? 2);
const mode = process.env['MODE'] === 'per-request' ? 'per-request' : 'pool';
const url = new URL(process.env['DATABASE_URL'] ?? 'mysql://root@127.0.0.1:3306/app');
const connection = {
  host: url.hostname,
  port: Number(url.port || 3306),
  user: decodeURIComponent(url.username) || 'root',
  password: decodeURIComponent(url.password),
  database: url.pathname.slice(1),
  timezone: 'Z',
};
const sql = `SELECT u.id, u.email, u.name, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id
  WHERE s.token_hash = ? AND s.expires_at > ?`;

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  });
} else {
  const pool = mode === 'pool' ? mysql.createPool({ ...connection, connectionLimit: Number(process.env['POOL_SIZE'] ?? 10) }) : undefined;
  const app = new Koa();
  app.use(async (ctx) => {
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return;
    }
    const token = /^Bearer (.+)$/.exec(ctx.get('Authorization'))?.[1];
    if (ctx.path !== '/api/me' || !token) {
      ctx.status = 401;
      return;
    }
    const params = [createHash('sha256').update(token).digest(), new Date()];
    try {
      let rows: mysql.RowDataPacket[];
      if (pool) {
        [rows] = await pool.execute<mysql.RowDataPacket[]>(sql, params);
      } else {
        const conn = await mysql.createConnection(connection);
        try {
          [rows] = await conn.execute<mysql.RowDataPacket[]>(sql, params);
        } finally {
          await conn.end();
        }
      }
      if (rows[0]) ctx.body = rows[0];
      else ctx.status = 401;
    } catch {
      // What the replaced system did: any database error is a failed request.
      ctx.status = 500;
    }
  });
  createServer(app.callback()).listen(port, '127.0.0.1');
}

import { createHash } from 'node:crypto';
import Koa from 'koa';
import mysql from 'mysql2/promise';

/*
 * The benchmark's baseline: the smallest hand-written koa + mysql2 server that answers
 * GET /api/me with the same SQL as the product. No validation, metrics, logging, budget or error
 * boundary: whatever the product costs beyond this is its overhead.
 *
 * mode `pool`         one mysql2 pool of `poolSize` connections (the fair comparison)
 * mode `per-request`  a new connection per request, closed afterwards: the system the product replaces
 */

export interface BaselineOptions {
  readonly connection: mysql.ConnectionOptions;
  readonly mode: 'pool' | 'per-request';
  readonly poolSize: number;
}

const sql = `SELECT u.id, u.email, u.name, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id
  WHERE s.token_hash = ? AND s.expires_at > ?`;

export function createBaselineApp(options: BaselineOptions): { app: Koa; close(): Promise<void> } {
  const connection = { ...options.connection, timezone: 'Z' };
  const pool =
    options.mode === 'pool' ? mysql.createPool({ ...connection, connectionLimit: options.poolSize }) : undefined;
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
  return { app, close: async () => pool?.end() };
}

import { createHash } from 'node:crypto';
import type { RequestListener, ServerResponse } from 'node:http';
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

/**
 * The same lookup with no framework at all: node:http and a mysql2 pool. The ceiling of what the lookup can cost in
 * Node; the benchmark reports its ratio, it is no target.
 */
export function createBareHandler(options: Omit<BaselineOptions, 'mode'>): {
  handler: RequestListener;
  close(): Promise<void>;
} {
  const pool = mysql.createPool({ ...options.connection, timezone: 'Z', connectionLimit: options.poolSize });
  const answer = (res: ServerResponse, status: number, body?: unknown) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  const handler: RequestListener = (req, res) => {
    if (req.url === '/healthz') return answer(res, 200, { status: 'ok' });
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (req.url !== '/api/me' || !token) return answer(res, 401);
    const params = [createHash('sha256').update(token).digest(), new Date()];
    pool.execute<mysql.RowDataPacket[]>(sql, params).then(
      ([rows]) => answer(res, rows[0] ? 200 : 401, rows[0]),
      () => answer(res, 500),
    );
  };
  return { handler, close: () => pool.end() };
}

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

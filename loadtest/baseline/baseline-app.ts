import { createHash } from 'node:crypto';
import type { RequestListener, ServerResponse } from 'node:http';
import Koa from 'koa';
import mysql from 'mysql2/promise';
import { createLoginLookup } from '../../server/auth/login-lookup.js';
import { createLoginThrottle } from '../../server/auth/login-throttle.js';
import { createPasswordHasher } from '../../server/auth/password-hasher.js';
import { hashSessionToken, newSessionToken } from '../../server/auth/session-token.js';
import type { DbPool } from '../../server/db/create-db-pool.js';

/*
 * The benchmark's baseline: the smallest hand-written koa + mysql2 server that answers
 * GET /api/me with the same SQL as the product, and (pool mode) POST /api/login with the product's four statements
 * around one scrypt verification. No validation, metrics, logging, budget, deadlines, admission or error boundary:
 * whatever the product costs beyond this is its overhead.
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

const insertSession = 'INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)';

/**
 * A login as a hand-written server would do it with the product's schema: the product's lookup and throttle
 * statements (their SQL is the product's own, run on a bare mysql2 pool), one scrypt verification on libuv's threads,
 * and the session's insert. Every error is a 500. Like the product, a worker counts and hashes two logins at a time:
 * counted all at once, more than the throttle's free attempts from one client would block it.
 */
function baselineLogin(pool: mysql.Pool): Koa.Middleware {
  const statements: Pick<DbPool, 'execute'> = {
    execute: async <T extends mysql.RowDataPacket[] | mysql.ResultSetHeader>(sql: string, params?: unknown[]) =>
      (await pool.execute<T>(sql, params as never))[0],
  };
  const throttle = createLoginThrottle(statements);
  const lookup = createLoginLookup(statements, throttle);
  // The hasher's own cost is only that of hashes it makes; verifying reads the cost stored in each hash.
  const hasher = createPasswordHasher({ cost: 10 });
  const slots = { free: 2, waiting: [] as (() => void)[] };
  const inSlot = async <T>(work: () => Promise<T>): Promise<T> => {
    if (slots.free > 0) slots.free--;
    else await new Promise<void>((resume) => slots.waiting.push(resume));
    try {
      return await work();
    } finally {
      const next = slots.waiting.shift();
      if (next) next();
      else slots.free++;
    }
  };
  return async (ctx) => {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const { email, password } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, string>;
    if (typeof email !== 'string' || typeof password !== 'string') {
      ctx.status = 400;
      return;
    }
    const candidate = await lookup.find(email, ctx.ip);
    const { user } = candidate;
    const outcome = await inSlot(async () => {
      if (candidate.blockedFor > 0 || (await throttle.reserve(email, ctx.ip)).retryAfterSeconds > 0) return 429;
      return user && (await (await hasher).verify(password, user.passwordHash)) ? 200 : 401;
    });
    if (outcome !== 200 || !user) {
      ctx.status = outcome;
      return;
    }
    await throttle.succeeded(email, ctx.ip);
    const token = newSessionToken();
    const expiresAt = new Date(candidate.checkedAt.getTime() + 3600_000);
    await pool.execute(insertSession, [hashSessionToken(token), user.id, candidate.checkedAt, expiresAt]);
    ctx.body = { token, expiresAt, user: { id: user.id, email, name: user.name, createdAt: user.createdAt } };
  };
}

export function createBaselineApp(options: BaselineOptions): { app: Koa; close(): Promise<void> } {
  const connection = { ...options.connection, timezone: 'Z' };
  const pool =
    options.mode === 'pool' ? mysql.createPool({ ...connection, connectionLimit: options.poolSize }) : undefined;
  const login = pool && baselineLogin(pool);
  const app = new Koa();
  app.use(async (ctx) => {
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return;
    }
    if (login && ctx.method === 'POST' && ctx.path === '/api/login') {
      try {
        await login(ctx, async () => {});
      } catch {
        ctx.status = 500;
      }
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

import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { startThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { benchToken, metricValue, startBaseline, startProduct } from './bench-processes.js';
import { runSteadyLoad, successRate } from './steady-load.js';

export interface FailureRun {
  /** Every request sent, answered or not. */
  readonly requests: number;
  /** Cut off by the load generator when the run ended; not in the success rate. */
  readonly inFlightAtEnd: number;
  readonly successRate: number;
  readonly failed: number;
  readonly refusedByMysql: number;
  readonly maxUsedConnections: number;
  readonly p99Ms: number;
}

export interface FailureResult {
  readonly maxConnections: number;
  readonly budgetUsable: number;
  readonly product: FailureRun;
  readonly connectionPerRequest: FailureRun;
}

async function status(admin: Connection, name: string): Promise<number> {
  const [[row]] = await admin.query<RowDataPacket[]>('SHOW GLOBAL STATUS LIKE ?', [name]);
  return Number(row?.['Value'] ?? 0);
}

/**
 * Benchmark 2: the original failure, reproduced and beaten. 1,000 concurrent connections on
 * /api/me against a throwaway mariadbd with the DEFAULT max_connections (151): a connection-per-request
 * server (what the product replaces) vs the product. Target for the product: 0 refused connections,
 * ≥ 99.9 % success, Max_used_connections ≤ budget.
 */
export async function originalFailureBench(options: {
  workers: number;
  connections: number;
  durationSeconds: number;
}): Promise<FailureResult> {
  const mariadb = await startThrowawayMariadb();
  const { database: _database, ...server } = parseDatabaseUrl(mariadb.url);
  const admin = await mysql.createConnection(server);
  const measure = async (url: string, token: string): Promise<FailureRun> => {
    await admin.query('FLUSH STATUS');
    const refusedBefore = await status(admin, 'Connection_errors_max_connections');
    const load = await runSteadyLoad({
      url: `${url}/api/me`,
      connections: options.connections,
      durationSeconds: options.durationSeconds,
      headers: { authorization: `Bearer ${token}` },
    });
    return {
      requests: load.sent,
      successRate: successRate(load),
      failed: load.failed,
      inFlightAtEnd: load.inFlightAtEnd,
      refusedByMysql: (await status(admin, 'Connection_errors_max_connections')) - refusedBefore,
      maxUsedConnections: await status(admin, 'Max_used_connections'),
      p99Ms: load.p99Ms,
    };
  };
  try {
    const [[limits]] = await admin.query<RowDataPacket[]>('SELECT @@max_connections AS max');
    const cluster = await startProduct({ WORKERS: String(options.workers), DATABASE_URL: mariadb.url });
    let token: string;
    let product: FailureRun;
    let budgetUsable: number;
    try {
      token = await benchToken(cluster.url);
      budgetUsable = await metricValue(cluster, 'db_pool_budget_connections');
      product = await measure(cluster.url, token);
    } finally {
      await cluster.stop();
    }
    const baseline = await startBaseline({
      WORKERS: String(options.workers),
      DATABASE_URL: mariadb.url,
      MODE: 'per-request',
    });
    try {
      const connectionPerRequest = await measure(baseline.url, token);
      return { maxConnections: Number(limits?.['max']), budgetUsable, product, connectionPerRequest };
    } finally {
      await baseline.stop();
    }
  } finally {
    await admin.end();
    await mariadb.destroy();
  }
}

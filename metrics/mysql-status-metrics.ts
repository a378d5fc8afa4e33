import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import type { MetricsJson } from './worker-metrics-ipc.js';
import type { DbConnectionOptions } from '../server/config/config.js';

/*
 * MySQL's own view of its connections, under the names mysqld_exporter uses, so community dashboards and
 * alert rules work unchanged. Read by the primary on ONE dedicated connection (counted in the budget as
 * the primary's connection), at most once per `minIntervalMs`, with a short timeout so a dead MySQL
 * never blocks a scrape: then `mysql_up` is 0 and the other series are absent.
 */

const statusNames = {
  Threads_connected: 'mysql_global_status_threads_connected',
  Threads_running: 'mysql_global_status_threads_running',
  Max_used_connections: 'mysql_global_status_max_used_connections',
  Aborted_connects: 'mysql_global_status_aborted_connects',
} as const;
const variableNames = {
  max_connections: 'mysql_global_variables_max_connections',
  max_user_connections: 'mysql_global_variables_max_user_connections',
} as const;
// The limit MySQL applies to this account's sessions: its own MAX_USER_CONNECTIONS when it has one, else the global
// max_user_connections (0: none). The status connection logs in as the app does, so its session has the app's limit.
const sessionNames = {
  max_user_connections: 'mysql_session_max_user_connections',
} as const;
const sessionSql = 'SELECT @@SESSION.max_user_connections AS max_user_connections';
// What is read is what is exported: the queries are built from the names above (plus the refusal counter's source).
const quoted = (names: readonly string[]) => names.map((name) => `'${name}'`).join(',');
const statusSql = `SHOW GLOBAL STATUS WHERE Variable_name IN (${quoted([...Object.keys(statusNames), 'Connection_errors_max_connections'])})`;
const variablesSql = `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${quoted(Object.keys(variableNames))})`;

/** The driver's code (ECONNREFUSED, ER_ACCESS_DENIED_ERROR...), else the server's errno: what the runbook asks for. */
function driverCode(error: unknown): string {
  const { code, errno } = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    errno?: unknown;
  };
  if (typeof code === 'string') return code;
  return typeof errno === 'number' ? `ERRNO_${errno}` : 'UNKNOWN';
}

interface Snapshot {
  readonly up: boolean;
  readonly values: ReadonlyMap<string, number>;
}

export interface MysqlStatusMetrics {
  /** The mysql_* series, read now unless a read newer than minIntervalMs exists: only mysql_up while MySQL is unreachable. */
  collect(): Promise<MetricsJson>;
  close(): Promise<void>;
}

export function createMysqlStatusMetrics(
  options: { readonly connection: DbConnectionOptions; readonly timeoutMs: number; readonly minIntervalMs: number },
  deps: {
    readonly logger: Logger;
    /** APP_REPLICAS=auto: registers the connection under the replica's claim; false or a throw: it is closed unused. */
    readonly onConnect?: ((connection: Connection) => Promise<boolean>) | undefined;
  },
): MysqlStatusMetrics {
  let connection: Connection | undefined;
  let last: { at: number; snapshot: Promise<Snapshot> } | undefined;
  let closed = false;

  async function connect(): Promise<Connection> {
    if (connection) return connection;
    // No default database: the app database's PROCESSLIST then shows exactly the workers' pools.
    const { database: _database, ...server } = options.connection;
    const fresh = await mysql.createConnection({ ...server, connectTimeout: options.timeoutMs, enableKeepAlive: true });
    // A lost connection is replaced on the next read rather than crashing the primary.
    (fresh as unknown as NodeJS.EventEmitter).on('error', () => {
      if (connection === fresh) connection = undefined;
    });
    if (deps.onConnect && !(await deps.onConnect(fresh).catch(() => false))) {
      fresh.destroy();
      throw Object.assign(new Error('no share of the connection budget for the status connection'), {
        code: 'NO_SHARE',
      });
    }
    connection = fresh;
    return fresh;
  }

  async function read(): Promise<Snapshot> {
    const values = new Map<string, number>();
    const work = (async () => {
      const conn = await connect();
      const [status] = await conn.query<RowDataPacket[]>(statusSql);
      const [variables] = await conn.query<RowDataPacket[]>(variablesSql);
      for (const row of [...status, ...variables]) values.set(String(row['Variable_name']), Number(row['Value']));
      const [[session]] = await conn.query<RowDataPacket[]>(sessionSql);
      for (const variable of Object.keys(sessionNames)) values.set(`session.${variable}`, Number(session?.[variable]));
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), options.timeoutMs)),
    );
    try {
      await Promise.race([work, timeout]);
      return { up: true, values };
    } catch (error) {
      deps.logger.warn(
        { code: driverCode(error), message: error instanceof Error ? error.message : undefined },
        'cannot read MySQL status',
      );
      connection?.destroy();
      connection = undefined;
      work.catch(() => undefined);
      return { up: false, values: new Map() };
    } finally {
      clearTimeout(timer);
    }
  }

  function refresh(): Promise<Snapshot> {
    const now = Date.now();
    if (closed) return Promise.resolve({ up: false, values: new Map() });
    if (!last || now - last.at >= options.minIntervalMs) last = { at: now, snapshot: read() };
    return last.snapshot;
  }

  // Two registries so that, while MySQL is down, only mysql_up is exported: a gauge without labels
  // cannot be made absent in prom-client, and a stale or zero value would look like a healthy server.
  const upRegistry = new Registry();
  const statusRegistry = new Registry();
  const up = new Gauge({
    name: 'mysql_up',
    help: 'Whether the last read of MySQL status succeeded (1) or not (0).',
    registers: [upRegistry],
    aggregator: 'first',
  });
  const gauges = [
    ...Object.entries({ ...statusNames, ...variableNames }).map(([variable, name]) => ({
      variable,
      name,
      help: `MySQL ${variable} (SHOW GLOBAL ${variable in statusNames ? 'STATUS' : 'VARIABLES'}).`,
    })),
    ...Object.entries(sessionNames).map(([variable, name]) => ({
      variable: `session.${variable}`,
      name,
      help: `MySQL @@SESSION.${variable} of the app's account: its own MAX_USER_CONNECTIONS when it has one, else the global value (0: no limit).`,
    })),
  ].map(({ variable, name, help }) => ({
    variable,
    gauge: new Gauge({ name, help, registers: [statusRegistry], aggregator: 'first' }),
  }));
  // A counter (it only grows until MySQL restarts), so rate()/increase() and promtool's lint treat it right.
  const refused = new Counter({
    name: 'mysql_global_status_connection_errors_total',
    help: 'Connections MySQL refused, by cause (Connection_errors_*); error="max_connections" is errno 1040.',
    labelNames: ['error'],
    registers: [statusRegistry],
    aggregator: 'first',
  });

  async function collect(): Promise<MetricsJson> {
    const snapshot = await refresh();
    up.set(snapshot.up ? 1 : 0);
    if (!snapshot.up) return upRegistry.getMetricsAsJSON();
    for (const { variable, gauge } of gauges) gauge.set(snapshot.values.get(variable) ?? Number.NaN);
    refused.reset();
    refused.inc({ error: 'max_connections' }, snapshot.values.get('Connection_errors_max_connections') ?? 0);
    return [...(await upRegistry.getMetricsAsJSON()), ...(await statusRegistry.getMetricsAsJSON())];
  }

  return {
    collect,
    async close() {
      closed = true;
      await connection?.end().catch(() => connection?.destroy());
      connection = undefined;
    },
  };
}

import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import type { MetricsJson } from './worker-metrics-ipc.js';
import type { DbConnectionOptions } from '../config/config.js';
import { withDeadline } from '../deadline/with-deadline.js';
import type { CloseHow, ConnectionCloser } from '../db/connection-closer.js';
import { readServerIdentity } from '../db/server-identity.js';

/*
 * MySQL's own view of its connections, under the names mysqld_exporter uses, so community dashboards and
 * alert rules work unchanged. Read by the primary on its ONE connection (counted in the budget as the primary's
 * connection: its own with a fixed budget, the coordination connection with APP_REPLICAS=auto, which exists whether or
 * not the replica has a grant), at most once per `minIntervalMs`, with a short timeout so a dead MySQL never blocks a
 * scrape: then `mysql_up` is 0 and the other series are absent. So mysql_up says whether MySQL answers, and nothing else.
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
  // Which server the service writes to, and whether it takes writes: they change at a failover (docs/failover.md).
  server_id: 'mysql_global_variables_server_id',
  read_only: 'mysql_global_variables_read_only',
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

/** A status or variable value as a number; switches (read_only) read ON/OFF, as mysqld_exporter reads them. */
function numeric(value: unknown): number {
  const text = String(value);
  if (/^(ON|YES)$/i.test(text)) return 1;
  if (/^(OFF|NO)$/i.test(text)) return 0;
  return Number(text);
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

/** Where the status reads run: the primary's one connection to MySQL. */
export interface StatusSource {
  /** Runs `sql`, failing at `timeoutMs`. */
  query<T>(sql: string, timeoutMs: number): Promise<T>;
  /**
   * Lets the connection go, so the next read reaches whatever server DATABASE_URL points at now: its server no longer
   * takes writes (server-watch.ts), and a cluster endpoint or DNS name may have moved to the new primary.
   */
  reconnect(): void;
  close(): Promise<void>;
}

/**
 * A status connection of the primary's own (the fixed budget counts it as the primary's connection). One that fails
 * or outlives a read is given up by the one rule (connection-closer.ts): closed and its server thread killed.
 */
export function createOwnStatusConnection(
  options: { readonly connection: DbConnectionOptions },
  deps: { readonly closer: ConnectionCloser },
): StatusSource {
  let connection: Promise<Connection> | undefined;
  // The server each connection reached: if it is ever abandoned, its thread is killed there only.
  const servers = new WeakMap<Connection, number>();
  const drop = (which: Promise<Connection> | undefined, how: CloseHow = 'abandon') => {
    if (which === undefined || which !== connection) return;
    connection = undefined;
    which.then(
      (conn) => void deps.closer.close(conn, how, servers.get(conn)),
      () => undefined,
    );
  };
  function connect(timeoutMs: number): Promise<Connection> {
    if (connection) return connection;
    // No default database: the app database's PROCESSLIST then shows exactly the workers' pools.
    const { database: _database, ...server } = options.connection;
    const opening = mysql
      .createConnection({ ...server, connectTimeout: timeoutMs, enableKeepAlive: true })
      .then(async (conn) => {
        try {
          servers.set(conn, (await readServerIdentity(conn)).serverId);
        } catch (error) {
          void deps.closer.close(conn, 'abandon');
          throw error;
        }
        return conn;
      });
    connection = opening;
    opening.then(
      // A lost connection is replaced on the next read rather than crashing the primary.
      (conn) => (conn as unknown as NodeJS.EventEmitter).on('error', () => drop(opening)),
      () => drop(opening),
    );
    return opening;
  }
  return {
    async query<T>(sql: string, timeoutMs: number): Promise<T> {
      const opened = connection;
      try {
        return await withDeadline(
          timeoutMs,
          async () => {
            const [rows] = await (await connect(timeoutMs)).query(sql);
            return rows as T;
          },
          { what: 'status read' },
        );
      } catch (error) {
        drop(opened ?? connection);
        throw error;
      }
    },
    reconnect() {
      // Its server still answers: a COM_QUIT is enough.
      drop(connection, 'quit');
    },
    async close() {
      const last = connection;
      connection = undefined;
      const conn = await last?.catch(() => undefined);
      if (conn) await deps.closer.close(conn, 'quit', servers.get(conn));
    },
  };
}

export function createMysqlStatusMetrics(
  options: { readonly timeoutMs: number; readonly minIntervalMs: number },
  deps: { readonly logger: Logger; readonly source: StatusSource },
): MysqlStatusMetrics {
  let last: { at: number; snapshot: Promise<Snapshot> } | undefined;
  let closed = false;

  async function read(): Promise<Snapshot> {
    const values = new Map<string, number>();
    try {
      const run = (sql: string) => deps.source.query<RowDataPacket[]>(sql, options.timeoutMs);
      const [status, variables, [session]] = await withDeadline(
        options.timeoutMs,
        async () => [await run(statusSql), await run(variablesSql), await run(sessionSql)],
        { what: 'status read' },
      );
      for (const row of [...status, ...variables]) values.set(String(row['Variable_name']), numeric(row['Value']));
      for (const variable of Object.keys(sessionNames)) values.set(`session.${variable}`, Number(session?.[variable]));
      return { up: true, values };
    } catch (error) {
      deps.logger.warn(
        { code: driverCode(error), message: error instanceof Error ? error.message : undefined },
        'cannot read MySQL status',
      );
      return { up: false, values: new Map() };
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
      await deps.source.close();
    },
  };
}

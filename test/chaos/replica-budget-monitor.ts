import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import type { ClusterProcess } from '../../harness/cluster-process.js';
import type { ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { send, type Sample } from '../../harness/traffic.js';

/*
 * What the live replica budget test runs beside its replicas: light load on each, and a monitor connection (out of
 * the reserve) that samples MySQL's PROCESSLIST and the claims every 100 ms.
 */

export interface Load {
  readonly samples: Sample[];
  stop(): Promise<void>;
}

/** Eight clients, each holding a pool connection 100 ms per request and pausing 20 ms: more than the pools hold. */
export function startLoad(cluster: ClusterProcess): Load {
  const samples: Sample[] = [];
  let stopped = false;
  const client = async (n: number) => {
    for (let i = 0; !stopped && i < 5000; i++) {
      samples.push(await send(cluster.url, { path: '/test/db-sleep?seconds=0.1' }, { timeoutMs: 8000, client: n }));
      await sleep(20);
    }
  };
  const running = Promise.all(Array.from({ length: 8 }, (_, n) => client(n)));
  return {
    samples,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

export interface Reading {
  readonly at: number;
  /** Every app thread MySQL holds (the monitor's own excluded). */
  readonly total: number;
  /** Threads registered under a claim: the ones the grants pay for. */
  readonly registered: number;
  /**
   * Unregistered threads idle since they connected, less than a second ago: a pool connection between its handshake
   * and its registration (its grant already pays for it), or a reserve user's that has yet to send anything.
   */
  readonly justOpened: number;
  /** Σ granted over every claim, live or expired. */
  readonly granted: number;
  /** Claims whose registered threads outnumber their grant (one without a grant yet: its coordination connection, from the reserve). */
  readonly over: number;
}

export function startMonitor(mariadb: ThrowawayMariadb) {
  const readings: Reading[] = [];
  // One connection, shared by the sampling loop and the grant checks; replaced after an error.
  let connecting: Promise<Connection> | undefined;
  const connection = () =>
    (connecting ??= createConnection({ uri: mariadb.url, connectTimeout: 1000 }).catch((error: unknown) => {
      connecting = undefined;
      throw error;
    }));
  const drop = () => {
    void connecting?.then(
      (c) => c.destroy(),
      () => {},
    );
    connecting = undefined;
  };
  let stopped = false;
  let lastError = '';
  const loop = (async () => {
    while (!stopped) {
      try {
        // One statement: the grants first (a grant is raised before its threads open), then MySQL's threads.
        const [rows] = await (await connection()).query<RowDataPacket[]>(
          'SELECT (SELECT COALESCE(SUM(granted), 0) FROM app.replica_claims) AS granted,' +
            ' (SELECT COUNT(*) FROM (SELECT c.replica_id FROM app.replica_claims c JOIN app.replica_connections r ON r.replica_id = c.replica_id' +
            '   JOIN information_schema.PROCESSLIST p ON p.ID = r.connection_id GROUP BY c.replica_id, c.granted HAVING COUNT(*) > GREATEST(c.granted, 1)) o) AS over_grant,' +
            ' COUNT(*) AS total, COUNT(r.connection_id) AS registered,' +
            " SUM(r.connection_id IS NULL AND p.COMMAND = 'Sleep' AND p.TIME = 0) AS just_opened FROM information_schema.PROCESSLIST p" +
            " LEFT JOIN app.replica_connections r ON r.connection_id = p.ID WHERE p.ID <> CONNECTION_ID() AND p.USER = 'root'",
        );
        const row: RowDataPacket = rows[0] ?? ({} as RowDataPacket);
        readings.push({
          at: Date.now(),
          total: Number(row['total']),
          registered: Number(row['registered']),
          justOpened: Number(row['just_opened'] ?? 0),
          granted: Number(row['granted']),
          over: Number(row['over_grant']),
        });
      } catch (error) {
        lastError = String(error);
        drop();
      }
      await sleep(100);
    }
  })();
  return {
    readings,
    lastError: () => lastError,
    async grants(): Promise<number[] | undefined> {
      try {
        const [rows] = await (await connection()).query<RowDataPacket[]>(
          'SELECT granted FROM app.replica_claims ORDER BY granted DESC',
        );
        return rows.map((row) => Number(row['granted']));
      } catch (error) {
        lastError = String(error);
        return undefined;
      }
    },
    async refused(): Promise<number> {
      const [rows] = await (await connection()).query<RowDataPacket[]>(
        "SHOW GLOBAL STATUS LIKE 'Connection_errors_max_connections'",
      );
      return Number(rows[0]?.['Value']);
    },
    async stop() {
      stopped = true;
      await loop;
      drop();
    },
  };
}

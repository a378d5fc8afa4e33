import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { startThrowawayMariadb, type ThrowawayMariadb } from './throwaway-mariadb.js';

/*
 * A MariaDB primary and a replica with GTID replication, two throwaway mariadbd processes, for failover tests: a
 * planned switchover, a promotion after the primary died, and bringing the old primary back as a replica.
 *
 * The service connects as `app` (password `app`), an account with every privilege on the app database and none on
 * the server: root may write to a read_only server (it holds READ_ONLY ADMIN), an application account may not, which is
 * what a managed database's failover relies on.
 */

export const appUser = { user: 'app', password: 'app' } as const;

export interface ReplicatedMariadb {
  /** Both servers, in the order they were started; which one is the primary changes. */
  readonly servers: readonly [ThrowawayMariadb, ThrowawayMariadb];
  primary(): ThrowawayMariadb;
  replica(): ThrowawayMariadb;
  /** mysql://app:app@127.0.0.1:PORT/app for a given port (the endpoint's, or a server's). */
  appUrl(port: number): string;
  /**
   * A planned switchover: the primary goes read_only, the replica catches up and is promoted, and the old primary
   * replicates from it. Resolves with the new primary once it takes writes.
   */
  switchover(): Promise<ThrowawayMariadb>;
  /**
   * An unplanned failover after the primary died (or was cut off): the replica applies what it had received and is
   * promoted. What it had not received is lost, unless semi-synchronous replication held the commits back.
   */
  promote(): Promise<ThrowawayMariadb>;
  /** The old primary (started again if it was killed) replicates from the new one, read_only. */
  rejoin(server: ThrowawayMariadb): Promise<void>;
  /** Waits until the replica has applied everything the primary has logged. */
  synced(): Promise<void>;
  destroy(): Promise<void>;
}

async function admin(server: ThrowawayMariadb): Promise<Connection> {
  return createConnection({ host: '127.0.0.1', port: server.port, user: 'root', password: '', connectTimeout: 5000 });
}

async function run(server: ThrowawayMariadb, ...statements: string[]): Promise<RowDataPacket[]> {
  const connection = await admin(server);
  try {
    let last: RowDataPacket[] = [];
    for (const statement of statements) [last] = (await connection.query(statement)) as [RowDataPacket[], unknown];
    return last;
  } finally {
    connection.destroy();
  }
}

async function replicateFrom(replica: ThrowawayMariadb, primary: ThrowawayMariadb, semiSync: boolean): Promise<void> {
  await run(
    replica,
    'SET GLOBAL read_only = 1',
    'STOP SLAVE',
    `CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${primary.port}, MASTER_USER = 'root', MASTER_PASSWORD = '',` +
      ' MASTER_USE_GTID = current_pos, MASTER_CONNECT_RETRY = 1',
    `SET GLOBAL rpl_semi_sync_slave_enabled = ${semiSync ? 'ON' : 'OFF'}`,
    // A replica has no replica of its own: as a semi-synchronous master (an old primary) it would hold every
    // transaction it applies (they go to its binary log) for the timeout, waiting for an acknowledgement.
    'SET GLOBAL rpl_semi_sync_master_enabled = OFF',
    'START SLAVE',
  );
  await run(primary, `SET GLOBAL rpl_semi_sync_master_enabled = ${semiSync ? 'ON' : 'OFF'}`);
}

/**
 * Waits until `replica` has applied everything `primary` has logged. MASTER_GTID_WAIT waits for gtid_slave_pos, which
 * never holds a server's own transactions: an old primary that rejoined a new one that has not written yet already
 * has every transaction of the position (they are its own) and would wait in vain. (Its gtid_binlog_pos is no proof
 * of the others: the binary log is written before the transaction is visible.)
 */
async function caughtUp(replica: ThrowawayMariadb, primary: ThrowawayMariadb, timeoutSeconds = 10): Promise<void> {
  const [row] = await run(primary, 'SELECT @@GLOBAL.gtid_binlog_pos AS pos');
  const pos = String(row?.['pos']);
  const [own] = await run(replica, 'SELECT @@server_id AS id');
  // domain-server-sequence, one per domain.
  const servers = pos
    .split(',')
    .filter(Boolean)
    .map((gtid) => gtid.split('-')[1]);
  if (servers.every((server) => server === String(own?.['id']))) return;
  const [waited] = await run(replica, `SELECT MASTER_GTID_WAIT('${pos}', ${timeoutSeconds}) AS result`);
  if (Number(waited?.['result']) !== 0) throw new Error(`replica on ${replica.port} did not catch up in time`);
}

async function makePrimary(server: ThrowawayMariadb): Promise<void> {
  await run(server, 'STOP SLAVE', 'RESET SLAVE ALL', 'SET GLOBAL read_only = 0');
}

export async function startReplicatedMariadb(
  options: { maxConnections?: number; semiSync?: boolean } = {},
): Promise<ReplicatedMariadb> {
  const semiSync = options.semiSync ?? false;
  const common = {
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    // Semi-synchronous: a commit waits (up to 10 s, then falls back to asynchronous) for the replica to have it.
    extraArgs: ['--rpl-semi-sync-master-timeout=10000', '--rpl-semi-sync-master-wait-point=AFTER_SYNC'],
  };
  const a = await startThrowawayMariadb({ ...common, binlog: { serverId: 1 } });
  const b = await startThrowawayMariadb({ ...common, binlog: { serverId: 2 }, createDatabase: false }).catch(
    async (error: unknown) => {
      await a.destroy();
      throw error;
    },
  );
  // On the primary only: the replica gets the account and the database through replication.
  await run(
    a,
    "CREATE USER IF NOT EXISTS 'app'@'127.0.0.1' IDENTIFIED BY 'app'",
    "GRANT ALL PRIVILEGES ON `app`.* TO 'app'@'127.0.0.1'",
  );
  await replicateFrom(b, a, semiSync);
  await caughtUp(b, a);
  let primary = a;
  let replica = b;
  const swap = () => {
    [primary, replica] = [replica, primary];
  };
  return {
    servers: [a, b],
    primary: () => primary,
    replica: () => replica,
    appUrl: (port) => `mysql://${appUser.user}:${appUser.password}@127.0.0.1:${port}/app`,
    async switchover() {
      await run(primary, 'SET GLOBAL read_only = 1');
      await caughtUp(replica, primary);
      await makePrimary(replica);
      const old = primary;
      swap();
      await replicateFrom(old, primary, semiSync);
      return primary;
    },
    async promote() {
      await run(replica, 'STOP SLAVE IO_THREAD');
      // Apply what was received before the promotion: the relay log drains, then the SQL thread stops.
      for (const giveUpAt = Date.now() + 10_000; Date.now() < giveUpAt; await sleep(50)) {
        const [status] = await run(replica, 'SHOW SLAVE STATUS');
        if (/read all relay log/i.test(String(status?.['Slave_SQL_Running_State'] ?? ''))) break;
      }
      await makePrimary(replica);
      // Nobody replicates from it until the old primary rejoins: a semi-synchronous commit would wait out the timeout
      // (10 s) for an acknowledgement no replica can send. rejoin() turns it on again.
      await run(replica, 'SET GLOBAL rpl_semi_sync_master_enabled = OFF');
      swap();
      return primary;
    },
    async rejoin(server) {
      await server.start();
      await replicateFrom(server, primary, semiSync);
    },
    synced: () => caughtUp(replica, primary),
    async destroy() {
      await Promise.all([a.destroy(), b.destroy()]);
    },
  };
}

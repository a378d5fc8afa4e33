import assert from 'node:assert/strict';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { preparedStatementsPerConnection } from '../../server/budget/server-limits.js';
import { createDbPool } from '../../server/db/create-db-pool.js';
import { silentLogger } from '../../harness/test-database.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';

/*
 * The budget counts max_prepared_stmt_count as connections of preparedStatementsPerConnection statements each. That
 * holds only if a pool connection really never keeps more than that many statements prepared on the server, however
 * many distinct statements it runs: checked with MariaDB's own count, on a server of its own so no other client's
 * statements are in it.
 */

describe('prepared statements per pool connection', function () {
  this.timeout(30_000);
  let mariadb: ThrowawayMariadb;
  let admin: Connection;
  before(async () => {
    mariadb = await startThrowawayMariadb();
    admin = await createConnection(mariadb.url);
  });
  after(async () => {
    await admin.end();
    await mariadb.destroy();
  });

  it(`stay at most ${preparedStatementsPerConnection} on the server, the least recently used closed first`, async () => {
    const pool = createDbPool(
      { connection: parseDatabaseUrl(mariadb.url), max: 1, maxIdle: 1, acquireTimeoutMs: 2000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
    try {
      const distinct = preparedStatementsPerConnection * 2;
      for (let i = 1; i <= distinct; i++) {
        const rows = await pool.execute<RowDataPacket[]>(`SELECT ? + ${i} AS n`, [1]);
        assert.equal(Number(rows[0]?.['n']), i + 1);
      }
      const [[status]] = await admin.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'");
      const prepared = Number(status?.['Value']);
      assert.ok(
        prepared >= 1 && prepared <= preparedStatementsPerConnection,
        `${prepared} statements prepared for one connection that ran ${distinct}`,
      );
    } finally {
      await pool.end();
    }
  });
});

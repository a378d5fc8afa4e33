import assert from 'node:assert/strict';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { openAdminConnection } from '../../server/db/admin-connection.js';
import { runMigrations } from '../../server/db/run-migrations.js';
import { request, type JsonResponse } from '../../harness/http-client.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';
import { silentLogger } from '../../harness/test-database.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';

/*
 * Server-side refusals that mean "not now" rather than "a bug": each must reach the client as 503 + Retry-After,
 * never as a 500. Produced for real on a throwaway server, as an account without SUPER (as the app runs in production).
 */

function assertUnavailable(response: JsonResponse): void {
  assert.equal(response.status, 503, response.text);
  assert.equal(response.headers.get('retry-after'), '1');
}

describe('database refusals become 503, not 500', function () {
  this.timeout(60_000);
  let mariadb: ThrowawayMariadb;
  let root: Connection;
  let app: InProcessApp;
  let n = 0;
  const register = () =>
    request(`${app.url}/api/users`, {
      method: 'POST',
      json: { email: `refusal-${++n}@example.test`, password: 'long enough password', name: 'R' },
    });

  before(async () => {
    mariadb = await startThrowawayMariadb();
    root = await createConnection(mariadb.url);
    const admin = await openAdminConnection(parseDatabaseUrl(mariadb.url), 5000);
    await runMigrations(admin, silentLogger);
    await admin.end();
    await root.query(`CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'pw'`);
    await root.query(`GRANT ALL ON app.* TO 'app'@'127.0.0.1'`);
    app = await startInProcessApp({
      connection: { ...parseDatabaseUrl(mariadb.url), user: 'app', password: 'pw' },
      acquireTimeoutMs: 2000,
    });
  });

  after(async () => {
    await app?.close();
    await root?.end().catch(() => root.destroy());
    await mariadb?.destroy();
  });

  it('a read-only server (as right after a failover): ER_OPTION_PREVENTS_STATEMENT is a 503', async () => {
    assert.equal((await register()).status, 201);
    await root.query('SET GLOBAL read_only = 1');
    try {
      assertUnavailable(await register());
    } finally {
      await root.query('SET GLOBAL read_only = 0');
    }
    assert.equal((await register()).status, 201);
  });

  it('the server refuses more prepared statements: ER_MAX_PREPARED_STMT_COUNT_REACHED is a 503', async () => {
    // The pool's connections cache their prepared statements; a fresh pool would prepare anew.
    const [[before]] = await root.query<RowDataPacket[]>('SELECT @@GLOBAL.max_prepared_stmt_count AS n');
    await root.query('SET GLOBAL max_prepared_stmt_count = 0');
    try {
      assertUnavailable(await request(`${app.url}/test/db-sleep?seconds=0.01`));
    } finally {
      await root.query('SET GLOBAL max_prepared_stmt_count = ?', [before?.['n']]);
    }
  });

  it("the server's own statement deadline (max_statement_time, MariaDB errno 1969) is a 503", async () => {
    await root.query('SET GLOBAL max_statement_time = 0.2');
    try {
      // The setting applies to connections opened from now on.
      await app.db.end();
      const fresh = await startInProcessApp({
        connection: { ...parseDatabaseUrl(mariadb.url), user: 'app', password: 'pw' },
        acquireTimeoutMs: 2000,
      });
      try {
        assertUnavailable(await request(`${fresh.url}/test/db-sleep?seconds=2`));
      } finally {
        await fresh.close();
      }
    } finally {
      await root.query('SET GLOBAL max_statement_time = 0');
    }
  });

  it('a statement whose connection an operator kills (KILL CONNECTION) is a 503, and the next request works', async () => {
    const fresh = await startInProcessApp({
      connection: { ...parseDatabaseUrl(mariadb.url), user: 'app', password: 'pw' },
      acquireTimeoutMs: 2000,
    });
    try {
      const sleeping = request(`${fresh.url}/test/db-sleep?seconds=5`);
      let answered = false;
      void sleeping.finally(() => (answered = true));
      // A read whose connection was lost runs once more on a fresh connection (retry-rule.ts): the operator kills
      // every attempt, so the answer does not hang on whether the second one beats its own deadline.
      let kills = 0;
      for (let i = 0; i < 400 && !answered; i++) {
        const [rows] = await root.query<RowDataPacket[]>(
          "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app' AND INFO LIKE 'SELECT SLEEP%'",
        );
        for (const row of rows) {
          await root.query(`KILL CONNECTION ${Number(row['ID'])}`).catch(() => {}); // it may have ended already
          kills++;
        }
        if (rows.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(kills > 0, 'the statement was seen running');
      assertUnavailable(await sleeping);
      // And the next request gets a working connection.
      assert.equal((await request(`${fresh.url}/test/db-sleep?seconds=0.01`)).status, 200);
    } finally {
      await fresh.close();
    }
  });
});

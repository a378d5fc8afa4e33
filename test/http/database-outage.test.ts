import assert from 'node:assert/strict';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { openAdminConnection } from '../../server/db/admin-connection.js';
import { runMigrations } from '../../server/db/run-migrations.js';
import { freePort } from '../../harness/free-port.js';
import { request, type JsonResponse } from '../../harness/http-client.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';
import { silentLogger } from '../../harness/test-database.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';

function assertUnavailable(response: JsonResponse): void {
  assert.equal(response.status, 503, response.text);
  assert.equal(response.headers.get('retry-after'), '1');
  assert.equal(response.body['error'], 'service_unavailable');
}

const credentials = { email: 'outage@example.com', password: 'still-correct' };
const wellFormedToken = 'A'.repeat(43);

describe('database outage', () => {
  describe('nothing listens on the database port', () => {
    const acquireTimeoutMs = 500;
    let app: InProcessApp;
    let fast: InProcessApp;
    before(async () => {
      const port = await freePort();
      const connection = { host: '127.0.0.1', port, user: 'root', password: '', database: 'app' };
      app = await startInProcessApp({ connection, acquireTimeoutMs });
      fast = await startInProcessApp({ connection, acquireTimeoutMs, env: { DB_FOLLOW_PRIMARY: 'false' } });
    });
    after(async () => {
      await app.close();
      await fast.close();
    });

    it('answers 503 with Retry-After — never 401 — to login, /api/me and register; liveness stays 200', async () => {
      assertUnavailable(await request(`${app.url}/api/login`, { method: 'POST', json: credentials }));
      assertUnavailable(
        await request(`${app.url}/api/me`, { headers: { authorization: `Bearer ${wellFormedToken}` } }),
      );
      assertUnavailable(await request(`${app.url}/api/users`, { method: 'POST', json: { ...credentials, name: 'O' } }));
      const ready = await request(`${app.url}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal((await request(`${app.url}/healthz`)).status, 200);
      assert.equal(app.db.state().used, 0);
    });

    it('waits for a server within the acquire deadline (a failover may bring one), then answers 503 with the cause', async () => {
      const started = performance.now();
      assertUnavailable(await request(`${app.url}/readyz`));
      const waitedMs = performance.now() - started;
      assert.ok(
        waitedMs >= acquireTimeoutMs - 150 && waitedMs < acquireTimeoutMs + 1500,
        `answered after ${waitedMs} ms`,
      );
      // The cause is the database's refusal, not a wait that ran out unexplained.
      const timeouts = await app.registry.getSingleMetric('db_client_connection_timeouts_total')?.get();
      assert.ok(timeouts, 'db_client_connection_timeouts_total is registered');
      assert.equal(
        timeouts.values.reduce((sum, v) => sum + v.value, 0),
        0,
      );
    });

    it('fails fast on ECONNREFUSED with DB_FOLLOW_PRIMARY=false: no acquisition waits out its deadline', async () => {
      const started = performance.now();
      assertUnavailable(await request(`${fast.url}/readyz`));
      assert.ok(performance.now() - started < acquireTimeoutMs, 'answered before the acquire deadline');
    });
  });

  describe('the database stops and comes back', () => {
    let mariadb: ThrowawayMariadb;
    let app: InProcessApp;
    before(async function () {
      this.timeout(60_000);
      mariadb = await startThrowawayMariadb();
      const connection = parseDatabaseUrl(mariadb.url);
      const admin = await openAdminConnection(connection, 5000);
      await runMigrations(admin, silentLogger);
      await admin.end();
      app = await startInProcessApp({ connection, acquireTimeoutMs: 500 });
    });
    after(async () => {
      await app?.close();
      await mariadb?.destroy();
    });

    it('serves, fails with 503 while down, and recovers by itself without handing out dead connections', async function () {
      this.timeout(60_000);
      assert.equal(
        (await request(`${app.url}/api/users`, { method: 'POST', json: { ...credentials, name: 'O' } })).status,
        201,
      );
      const login = await request(`${app.url}/api/login`, { method: 'POST', json: credentials });
      assert.equal(login.status, 200);
      const token = String(login.body['token']);

      await mariadb.stop();
      for (let i = 0; i < 3; i++) {
        assertUnavailable(await request(`${app.url}/api/login`, { method: 'POST', json: credentials }));
        assertUnavailable(await request(`${app.url}/api/me`, { headers: { authorization: `Bearer ${token}` } }));
      }
      assert.equal((await request(`${app.url}/readyz`)).status, 503);

      await mariadb.start();
      // The idle connections from before the restart are dead; the first request after must not get one.
      const me = await request(`${app.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(me.status, 200, me.text);
      assert.equal((await request(`${app.url}/api/login`, { method: 'POST', json: credentials })).status, 200);
      assert.equal((await request(`${app.url}/readyz`)).status, 200);
    });
  });
});

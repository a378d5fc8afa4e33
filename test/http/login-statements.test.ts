import assert from 'node:assert/strict';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { request } from '../../harness/http-client.js';
import { freshDatabase, testConnection } from '../../harness/test-database.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';

const connection = testConnection('app_test_login_statements');

/**
 * What a login costs MySQL, by MySQL's own count: the worker's pool has one connection, so that connection's
 * session `Questions` counter sees every statement the logins send, and nothing else's.
 */
describe('statements per login (MySQL Questions counter)', function () {
  this.timeout(30_000);
  let admin: Connection;
  let app: InProcessApp;
  const email = 'counted@example.com';
  const password = 'counted-password';
  const login = (pass: string, client: string) =>
    request(`${app.url}/api/login`, {
      method: 'POST',
      json: { email, password: pass },
      headers: { 'x-forwarded-for': client },
    });
  const questions = async () => {
    const rows = await app.db.execute<RowDataPacket[]>("SHOW SESSION STATUS LIKE 'Questions'", []);
    return Number(rows[0]?.['Value']);
  };
  /** Statements the server saw while `run` ran, less the counter's own second read. */
  const statementsOf = async (run: () => Promise<void>) => {
    const before = await questions();
    await run();
    return (await questions()) - before - 1;
  };

  before(async () => {
    admin = await freshDatabase(connection);
    app = await startInProcessApp({ connection, poolMax: 1, trustProxy: true });
    const created = await request(`${app.url}/api/users`, { method: 'POST', json: { email, password, name: 'C' } });
    assert.equal(created.status, 201);
    // Each statement is prepared once per connection; the count below is of the logins that follow.
    assert.equal((await login(password, '192.0.2.10')).status, 200);
    assert.equal((await login('wrong', '192.0.2.10')).status, 401);
  });
  after(async () => {
    await app?.close();
    await admin?.end();
  });

  it('runs at most 4 statements for a successful login', async () => {
    const logins = 5;
    const statements = await statementsOf(async () => {
      for (let i = 0; i < logins; i++) assert.equal((await login(password, `192.0.2.${20 + i}`)).status, 200);
    });
    assert.equal(statements % logins, 0, `${statements} statements for ${logins} logins`);
    assert.ok(statements / logins <= 4, `${statements / logins} statements per successful login`);
  });

  it('runs at most 2 statements for a wrong password, and 1 for a blocked client', async () => {
    const client = '192.0.2.99';
    const wrong = await statementsOf(async () => {
      for (let i = 0; i < 5; i++) assert.equal((await login('wrong', client)).status, 401);
    });
    assert.ok(wrong / 5 <= 2, `${wrong / 5} statements per failed login`);
    const blocked = await statementsOf(async () => {
      assert.equal((await login(password, client)).status, 429);
    });
    assert.equal(blocked, 1);
  });
});

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { request } from '../../harness/http-client.js';
import { freshDatabase, testConnection } from '../../harness/test-database.js';
import { createBaselineApp } from '../../loadtest/baseline/baseline-app.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';

const connection = testConnection('app_test_baseline_login');

/**
 * The benchmark's hand-written login is the reference the product's login is compared with: it must do the same
 * work (the account and throttle reads, the count, the hash, the clearing, a session the product accepts), or the
 * comparison says nothing.
 */
describe('the hand-written baseline login', function () {
  this.timeout(30_000);
  let admin: Connection;
  let product: InProcessApp;
  let baseline: ReturnType<typeof createBaselineApp>;
  let server: Server;
  let url = '';
  const email = 'hand@example.com';
  const password = 'hand-written-password';
  // Plain fetch: the baseline answers its errors with bare statuses, not the product's problem+json contract.
  const login = async (pass: string) => {
    const response = await fetch(`${url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: pass }),
    });
    const text = await response.text();
    return { status: response.status, text, body: (response.ok ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const failures = async () => {
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COALESCE(SUM(failures), 0) AS n FROM login_throttle');
    return Number(rows[0]?.['n']);
  };

  before(async () => {
    admin = await freshDatabase(connection);
    await admin.query(`USE ${connection.database}`);
    product = await startInProcessApp({ connection });
    const created = await request(`${product.url}/api/users`, {
      method: 'POST',
      json: { email, password, name: 'Hand' },
    });
    assert.equal(created.status, 201);
    baseline = createBaselineApp({ connection, mode: 'pool', poolSize: 4 });
    server = createServer(baseline.app.callback());
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((closed) => server?.close(closed));
    await baseline?.close();
    await product?.close();
    await admin?.end();
  });

  it('opens a session the product accepts, and counts then clears the attempt', async () => {
    const answer = await login(password);
    assert.equal(answer.status, 200, answer.text);
    const me = await request(`${product.url}/api/me`, { headers: { authorization: `Bearer ${answer.body['token']}` } });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body['email'], email);
    assert.equal(await failures(), 0);
  });

  it('refuses a wrong password with 401 and counts it', async () => {
    assert.equal((await login('wrong')).status, 401);
    assert.equal(await failures(), 2, 'the account + client row and the account row');
    assert.equal((await login(password)).status, 200);
  });

  it('answers six concurrent logins from one client without tripping the throttle', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => login(password)));
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200, 200, 200, 200],
    );
  });
});

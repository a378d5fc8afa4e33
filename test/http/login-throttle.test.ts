import assert from 'node:assert/strict';
import type { Connection } from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';
import { freshDatabase, testConnection } from '../helpers/test-database.js';

const database = 'app_test_throttle';
const connection = testConnection(database);

describe('login throttle (per account and client, shared through MySQL)', function () {
  this.timeout(20_000);
  let admin: Connection;
  // Two apps on one database stand for two workers (or replicas) behind a load balancer.
  let workerA: InProcessApp;
  let workerB: InProcessApp;
  before(async () => {
    admin = await freshDatabase(connection);
    workerA = await startInProcessApp({ connection, trustProxy: true });
    workerB = await startInProcessApp({ connection, trustProxy: true });
    await request(`${workerA.url}/api/users`, { method: 'POST', json: { email: 'target@example.com', password: 'right-password', name: 'T' } });
  });
  after(async () => {
    await workerA.close();
    await workerB.close();
    await admin.end();
  });

  const login = (app: InProcessApp, password: string, client: string, email = 'target@example.com') =>
    request(`${app.url}/api/login`, { method: 'POST', json: { email, password }, headers: { 'x-forwarded-for': client } });

  it('blocks a client after 5 failures, across workers, without checking the password; other clients still log in', async () => {
    for (let i = 0; i < 6; i++) {
      const worker = i % 2 === 0 ? workerA : workerB;
      assert.equal((await login(worker, 'guess', '198.51.100.7')).status, 401, `attempt ${i + 1}`);
    }
    for (const worker of [workerA, workerB]) {
      const blocked = await login(worker, 'right-password', '198.51.100.7');
      assert.equal(blocked.status, 429);
      assert.equal(blocked.body['error'], 'too_many_attempts');
      assert.equal(blocked.headers.get('retry-after'), '1');
    }
    assert.equal((await login(workerB, 'right-password', '203.0.113.9')).status, 200, 'another client is not locked out');
  });

  it('lets the client back after the block, and a success clears its count', async () => {
    await sleep(1100);
    assert.equal((await login(workerA, 'right-password', '198.51.100.7')).status, 200);
    assert.equal((await login(workerA, 'guess', '198.51.100.7')).status, 401, 'counting starts again from zero');
    assert.equal((await login(workerA, 'right-password', '198.51.100.7')).status, 200);
  });

  it('doubles the block with each further failure', async () => {
    for (let i = 0; i < 5; i++) await login(workerA, 'guess', '192.0.2.1');
    assert.equal((await login(workerA, 'guess', '192.0.2.1')).status, 401);
    await sleep(1100);
    assert.equal((await login(workerA, 'guess', '192.0.2.1')).status, 401);
    const blocked = await login(workerA, 'guess', '192.0.2.1');
    assert.equal(blocked.status, 429);
    assert.equal(blocked.headers.get('retry-after'), '2');
  });

  it('throttles unknown emails exactly like known ones', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await login(workerA, 'guess', '192.0.2.50', 'nobody@example.com')).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 429]);
  });
});

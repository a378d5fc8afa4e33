import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAdmissionLimiter } from '../../server/admission/admission-limiter.js';
import { createPasswordHasher } from '../../server/auth/password-hasher.js';
import { request } from '../../harness/http-client.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';
import { freshDatabase, testConnection } from '../../harness/test-database.js';

const database = 'app_test_throttle';
// The stored keys: SHA-256 of the account (or account + client), so a test can seed a counter directly.
const throttleKey = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest();
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
    await request(`${workerA.url}/api/users`, {
      method: 'POST',
      json: { email: 'target@example.com', password: 'right-password', name: 'T' },
    });
  });
  after(async () => {
    await workerA.close();
    await workerB.close();
    await admin.end();
  });

  const login = (app: InProcessApp, password: string, client: string, email = 'target@example.com') =>
    request(`${app.url}/api/login`, {
      method: 'POST',
      json: { email, password },
      headers: { 'x-forwarded-for': client },
    });

  it('blocks a client after 5 failures, across workers, without checking the password; other clients still log in', async () => {
    for (let i = 0; i < 5; i++) {
      const worker = i % 2 === 0 ? workerA : workerB;
      assert.equal((await login(worker, 'guess', '198.51.100.7')).status, 401, `attempt ${i + 1}`);
    }
    for (const worker of [workerA, workerB]) {
      const blocked = await login(worker, 'right-password', '198.51.100.7');
      assert.equal(blocked.status, 429);
      assert.equal(blocked.body['error'], 'too_many_attempts');
      assert.equal(blocked.headers.get('retry-after'), '1');
    }
    assert.equal(
      (await login(workerB, 'right-password', '203.0.113.9')).status,
      200,
      'another client is not locked out',
    );
  });

  it('lets the client back after the block, and a success clears its count', async () => {
    await sleep(1100);
    assert.equal((await login(workerA, 'right-password', '198.51.100.7')).status, 200);
    assert.equal((await login(workerA, 'guess', '198.51.100.7')).status, 401, 'counting starts again from zero');
    assert.equal((await login(workerA, 'right-password', '198.51.100.7')).status, 200);
  });

  it('doubles the block with each further failure', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await login(workerA, 'guess', '192.0.2.1')).status, 401);
    const first = await login(workerA, 'guess', '192.0.2.1');
    assert.equal(first.status, 429);
    assert.equal(first.headers.get('retry-after'), '1');
    await sleep(1100);
    assert.equal((await login(workerA, 'guess', '192.0.2.1')).status, 401);
    const second = await login(workerA, 'guess', '192.0.2.1');
    assert.equal(second.status, 429);
    assert.equal(second.headers.get('retry-after'), '2');
  });

  it('throttles unknown emails exactly like known ones', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++)
      statuses.push((await login(workerA, 'guess', '192.0.2.50', 'nobody@example.com')).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
  });

  it('keeps answering 401/429 and keeps the blocks at their caps after thousands of failures', async () => {
    // One failure every 30 s keeps the window open: about 9 hours of that is ~1,100 failures on the account,
    // where 2^(failures − allowance) no longer fits in a DOUBLE.
    const email = 'hammered@example.com';
    const client = '192.0.2.77';
    await admin.query(
      `INSERT INTO login_throttle (throttle_key, failures, last_failure_at, blocked_until)
       VALUES (?, 5000, UTC_TIMESTAMP(3), NULL), (?, 1200, UTC_TIMESTAMP(3), NULL)`,
      [throttleKey('account+client', email, client), throttleKey('account', email)],
    );
    const first = await login(workerA, 'guess', client, email);
    assert.equal(first.status, 401, first.text);
    const blocked = await login(workerB, 'guess', client, email);
    assert.equal(blocked.status, 429, blocked.text);
    const retryAfter = Number(blocked.headers.get('retry-after'));
    assert.ok(
      retryAfter > 890 && retryAfter <= 900,
      `the pair's block is capped at 15 min, got Retry-After ${retryAfter}`,
    );
    const [rows] = await admin.query<RowDataPacket[]>(
      `SELECT failures, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), blocked_until) / 1e6 AS blockedFor
         FROM login_throttle WHERE throttle_key IN (?, ?) ORDER BY failures`,
      [throttleKey('account', email), throttleKey('account+client', email, client)],
    );
    const [account, pair] = rows.map((row) => ({
      failures: Number(row['failures']),
      blockedFor: Number(row['blockedFor']),
    }));
    assert.equal(account?.failures, 1201, 'the account count advanced');
    assert.ok(
      account.blockedFor > 25 && account.blockedFor <= 30,
      `the account block is capped at 30 s, got ${account.blockedFor}`,
    );
    assert.equal(pair?.failures, 5001, 'the pair count advanced');
    assert.ok(
      pair.blockedFor > 890 && pair.blockedFor <= 900,
      `the pair block is capped at 15 min, got ${pair.blockedFor}`,
    );
  });

  it('counts the address the proxy saw, whatever a client forges to the left of it in X-Forwarded-For', async () => {
    // Proxies that append: behind one, a request arrives as "<whatever the client sent>, <the client's address>";
    // behind two, the inner proxy appends the outer one's address as well. Both apps must see the same client.
    const behindTwo = await startInProcessApp({ connection, trustedProxyHops: 2 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const forged = `10.9.${i}.${i}`;
        const response =
          i % 2 === 0
            ? await login(workerA, 'guess', `${forged}, 198.51.100.200`)
            : await login(behindTwo, 'guess', `${forged}, 198.51.100.200, 10.0.0.2`);
        statuses.push(response.status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
    } finally {
      await behindTwo.close();
    }
  });

  for (const [kind, email] of [
    ['a known account', 'target@example.com'],
    ['an unknown email', 'ghost@example.com'],
  ] as const) {
    it(`checks at most 5 of 40 concurrent wrong passwords from one client for ${kind}; the rest get 429 with Retry-After`, async () => {
      const client = kind === 'a known account' ? '198.51.100.41' : '198.51.100.42';
      const started = performance.now();
      const responses = await Promise.all(
        Array.from({ length: 40 }, (_, i) => login(i % 2 === 0 ? workerA : workerB, 'guess', client, email)),
      );
      const seconds = (performance.now() - started) / 1000;
      const checked = responses.filter((response) => response.status === 401).length;
      // The policy lets a 6th guess through once the 1 s block after the 5th has ended, a 7th after the next 2 s…: on a
      // machine slow enough that the burst outlasts a block, that later guess is allowed, not bought by concurrency.
      const allowed = 5 + Math.floor(Math.log2(seconds + 1));
      const refused = responses.filter((response) => response.status === 429);
      assert.deepEqual(
        responses
          .filter((response) => response.status !== 401 && response.status !== 429)
          .map((response) => response.text),
        [],
        'nothing but 401 and 429',
      );
      assert.ok(
        checked >= 1 && checked <= allowed,
        `${checked} passwords were checked in ${seconds.toFixed(2)} s (allowed ${allowed})`,
      );
      assert.equal(refused.length, 40 - checked);
      for (const response of refused) assert.ok(Number(response.headers.get('retry-after')) >= 1);
    });
  }
});

describe('login throttle: logins shed for overload', function () {
  this.timeout(20_000);
  let admin: Connection;
  let app: InProcessApp;
  let releaseSlot: () => void = () => undefined;
  // One hashing slot with a line of one that gives up after 50 ms: with the slot held, a login passes the early
  // shed check, waits in line and is refused (503 overloaded) before its password is hashed.
  const limiter = createAdmissionLimiter({ concurrency: 1, maxQueue: 1, maxWaitMs: 50 });
  before(async () => {
    admin = await freshDatabase(connection);
    app = await startInProcessApp({
      connection,
      trustProxy: true,
      hasher: await createPasswordHasher({ cost: 10, limiter }),
    });
  });
  after(async () => {
    releaseSlot();
    await app.close();
    await admin.end();
  });

  it('does not count an attempt refused at the hasher, so it does not use up the allowance', async () => {
    const held = limiter.run(() => new Promise<void>((resolve) => (releaseSlot = resolve)));
    const login = (password: string) =>
      request(`${app.url}/api/login`, {
        method: 'POST',
        json: { email: 'busy@example.com', password },
        headers: { 'x-forwarded-for': '198.51.100.9' },
      });
    for (let i = 0; i < 6; i++) {
      const refused = await login('guess');
      assert.equal(refused.status, 503, refused.text);
      assert.equal(refused.body['error'], 'overloaded');
    }
    releaseSlot();
    await held;
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COALESCE(SUM(failures), 0) AS n FROM login_throttle');
    assert.equal(Number(rows[0]?.['n']), 0, 'no attempt is left counted');
    assert.equal((await login('guess')).status, 401, 'the client still has its whole allowance');
  });
});

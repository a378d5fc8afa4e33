import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createPasswordHasher, type PasswordHasher } from '../../server/auth/password-hasher.js';
import { openAdminConnection } from '../../server/db/admin-connection.js';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { createDbPool } from '../../server/db/create-db-pool.js';
import { purgeExpired } from '../../server/db/purge-expired.js';
import { deriveKeyMaterial } from '../../server/idempotency/key-material.js';
import { request, type JsonResponse } from '../../harness/http-client.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { startFreezableProxy, type FreezableProxy } from '../helpers/freezable-proxy.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';

/*
 * Idempotency-Key on POST /api/users and POST /api/login (IETF httpapi draft "The Idempotency-Key HTTP Header Field"):
 * the same key with the same body gets the first outcome again, status and body, and the operation runs once; the same
 * key with another body is 422; a key whose first request is still running is 409; no key behaves as before. The real
 * app; its hasher can be held by the test, which keeps a first request "in progress" for as long as it needs.
 */

const database = 'app_test_idempotency_key';
const connection = testConnection(database);
const password = 'analytical-engine';

/** The production hasher; a hash asked for while `hold()` is in force waits for `release()`. */
function holdableHasher(real: PasswordHasher) {
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  let entered: () => void = () => {};
  let waiting = Promise.resolve();
  const hasher: PasswordHasher = {
    ...real,
    async hash(secret) {
      if (gate) {
        entered();
        await gate;
      }
      return real.hash(secret);
    },
  };
  return {
    hasher,
    /** Holds the next hashes; resolves once one of them is waiting. */
    hold(): Promise<void> {
      gate = new Promise<void>((resolve) => (open = resolve));
      waiting = new Promise<void>((resolve) => (entered = resolve));
      return waiting;
    },
    release() {
      gate = undefined;
      open();
    },
  };
}

describe('Idempotency-Key', () => {
  let admin: Connection;
  let app: InProcessApp;
  let held: ReturnType<typeof holdableHasher>;

  before(async () => {
    admin = await freshDatabase(connection);
    held = holdableHasher(await createPasswordHasher({ cost: 10 }));
    app = await startInProcessApp({ connection, hasher: held.hasher });
  });
  afterEach(() => held.release());
  after(async () => {
    await app.close();
    await admin.end();
  });

  const post = (path: string, json: unknown, key?: string): Promise<JsonResponse> =>
    request(`${app.url}${path}`, {
      method: 'POST',
      json,
      headers: key === undefined ? {} : { 'idempotency-key': key },
    });
  const register = (email: string, key?: string, name = 'Ada') => post('/api/users', { email, password, name }, key);
  const login = (email: string, secret: string, key?: string) => post('/api/login', { email, password: secret }, key);
  const count = async (sql: string, params: unknown[] = []) => {
    const [rows] = await admin.query<RowDataPacket[]>(sql, params);
    return Number(rows[0]?.['n']);
  };
  const accounts = (email: string) => count('SELECT COUNT(*) AS n FROM users WHERE email = ?', [email]);
  const uniqueEmail = () => `idem-${randomUUID()}@example.com`;
  const key = () => `"${randomUUID()}"`;

  it('answers the same key and body with the first outcome, status and body, and registers once', async () => {
    const email = uniqueEmail();
    const k = key();
    const first = await register(email, k);
    assert.equal(first.status, 201, first.text);
    const again = await register(email, k);
    assert.equal(again.status, 201, again.text);
    assert.deepEqual(again.body, first.body);
    assert.equal(await accounts(email), 1);
    // A bare value (no Structured Field quotes) is the same key.
    const bare = await register(email, k.slice(1, -1));
    assert.equal(bare.status, 201);
    assert.deepEqual(bare.body, first.body);
  });

  it('replays an error outcome too: a key that met a taken email keeps its 409, with the retry own request id', async () => {
    const email = uniqueEmail();
    assert.equal((await register(email)).status, 201);
    const k = key();
    const first = await register(email, k);
    assert.equal(first.status, 409);
    assert.equal(first.body['error'], 'email_taken');
    const again = await register(email, k);
    assert.equal(again.status, 409);
    assert.equal(again.body['error'], 'email_taken');
    assert.notEqual(again.body['requestId'], first.body['requestId']);
  });

  it('refuses the same key with a different body (422 idempotency_key_reused), and writes nothing for it', async () => {
    const email = uniqueEmail();
    const k = key();
    assert.equal((await register(email, k)).status, 201);
    const other = uniqueEmail();
    const refused = await register(other, k);
    assert.equal(refused.status, 422, refused.text);
    assert.equal(refused.body['error'], 'idempotency_key_reused');
    assert.equal(refused.body['type'], '/problems/idempotency-key-reused');
    assert.equal(await accounts(other), 0);
    const renamed = await register(email, k, 'Someone else');
    assert.equal(renamed.status, 422);
  });

  it('answers 409 idempotency_key_in_use with Retry-After while the first request with the key still runs', async () => {
    const email = uniqueEmail();
    const k = key();
    const waiting = held.hold();
    const first = register(email, k);
    await waiting;
    const concurrent = await register(email, k);
    assert.equal(concurrent.status, 409, concurrent.text);
    assert.equal(concurrent.body['error'], 'idempotency_key_in_use');
    assert.ok(Number(concurrent.headers.get('retry-after')) >= 1);
    // A different body is refused for what it is, even while the first runs.
    assert.equal((await register(uniqueEmail(), k)).status, 422);
    held.release();
    const done = await first;
    assert.equal(done.status, 201, done.text);
    const after = await register(email, k);
    assert.equal(after.status, 201);
    assert.deepEqual(after.body, done.body);
    assert.equal(await accounts(email), 1);
  });

  it('takes over a key whose request ended without an outcome, once its claim lapsed', async () => {
    // A claim left behind by a request that died (its worker killed) before it wrote anything.
    const email = uniqueEmail();
    const raw = randomUUID();
    const material = deriveKeyMaterial('register', raw);
    await admin.query(
      `INSERT INTO idempotency_keys (key_hash, fingerprint, owner, status, response, claimed_until, expires_at)
       VALUES (?, ?, ?, NULL, NULL, UTC_TIMESTAMP(3) + INTERVAL 30 SECOND, UTC_TIMESTAMP(3) + INTERVAL 1 DAY)`,
      [material.keyHash, material.fingerprint({ email, password, name: 'Ada' }), Buffer.alloc(16)],
    );
    const waiting = await register(email, raw);
    assert.equal(waiting.status, 409, 'the claim still runs');
    assert.ok(Number(waiting.headers.get('retry-after')) > 20, `Retry-After ${waiting.headers.get('retry-after')}`);
    await admin.query(
      'UPDATE idempotency_keys SET claimed_until = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE key_hash = ?',
      [material.keyHash],
    );
    const taken = await register(email, raw);
    assert.equal(taken.status, 201, taken.text);
    assert.deepEqual((await register(email, raw)).body, taken.body);
    assert.equal(await accounts(email), 1);
  });

  it('behaves as before without a key, and answers a malformed key 400', async () => {
    const email = uniqueEmail();
    assert.equal((await register(email)).status, 201);
    assert.equal((await register(email)).status, 409);
    for (const bad of [
      '"short"',
      '"a", "b"',
      'two words here, really',
      '"unterminated-idempotency-key',
      'x'.repeat(300),
    ]) {
      const answer = await register(uniqueEmail(), bad);
      assert.equal(answer.status, 400, `${bad}: ${answer.text}`);
      assert.equal(answer.body['error'], 'invalid_idempotency_key');
    }
  });

  it('forgets a key once it expired: the key is free for a new request, and the purge deletes it', async () => {
    const k = key();
    const first = uniqueEmail();
    assert.equal((await register(first, k)).status, 201);
    await admin.query('UPDATE idempotency_keys SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND');
    const second = uniqueEmail();
    const fresh = await register(second, k);
    assert.equal(fresh.status, 201, 'an expired key is not a reuse with a different body');
    assert.equal(await accounts(second), 1);
    await admin.query('UPDATE idempotency_keys SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND');
    const pool = createDbPool(
      { connection, max: 1, maxIdle: 1, acquireTimeoutMs: 1000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
    try {
      const purged = await purgeExpired(pool, { throttleWindowMs: 15 * 60_000 });
      assert.ok(purged.idempotencyKeys >= 1, JSON.stringify(purged));
    } finally {
      await pool.end();
    }
    assert.equal(await count('SELECT COUNT(*) AS n FROM idempotency_keys WHERE expires_at <= UTC_TIMESTAMP(3)'), 0);
  });

  it('stores a key only as a hash, and a login outcome only encrypted under the key: no token, no raw key', async () => {
    const email = uniqueEmail();
    assert.equal((await register(email)).status, 201);
    const k = `"${randomUUID()}"`;
    const first = await login(email, password, k);
    assert.equal(first.status, 200, first.text);
    const token = String(first.body['token']);
    const again = await login(email, password, k);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body, 'the same session, not a second one');
    const [sessions] = await admin.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = ?',
      [email],
    );
    assert.equal(Number(sessions[0]?.['n']), 1);
    assert.equal((await request(`${app.url}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    const [rows] = await admin.query<RowDataPacket[]>('SELECT * FROM idempotency_keys');
    const dump = Buffer.concat(
      rows.flatMap((row) => Object.values(row).map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v))))),
    );
    for (const [what, value] of [
      ['token', Buffer.from(token)],
      ['raw token bytes', Buffer.from(token, 'base64url')],
      ['key', Buffer.from(k.slice(1, -1))],
      ['password', Buffer.from(password)],
      ['email', Buffer.from(email)],
    ] as const) {
      assert.ok(!dump.includes(value), `idempotency_keys holds the ${what}`);
    }
    // The same key with another password is another body: refused, and no password is checked for it.
    const failuresBefore = await count('SELECT COALESCE(SUM(failures), 0) AS n FROM login_throttle');
    const other = await login(email, 'not-the-password', k);
    assert.equal(other.status, 422, other.text);
    assert.equal(await count('SELECT COALESCE(SUM(failures), 0) AS n FROM login_throttle'), failuresBefore);
  });

  it('replays a failed login without checking the password again or counting another attempt', async () => {
    const email = uniqueEmail();
    assert.equal((await register(email)).status, 201);
    const k = key();
    const first = await login(email, 'wrong-password', k);
    assert.equal(first.status, 401);
    const failures = await count('SELECT COALESCE(SUM(failures), 0) AS n FROM login_throttle');
    const again = await login(email, 'wrong-password', k);
    assert.equal(again.status, 401);
    assert.equal(again.body['error'], 'invalid_credentials');
    assert.equal(await count('SELECT COALESCE(SUM(failures), 0) AS n FROM login_throttle'), failures);
  });
});

/*
 * The case the key exists for: the server committed a registration, but its answer never reached the app. Its COMMIT is
 * held on the server with MariaDB's BACKUP STAGE BLOCK_COMMIT (on a throwaway server: it holds every commit), the path
 * is frozen so the server's answer cannot pass, the commit is let through, and the path is cut: the app cannot know, and
 * says so with a 504. The retry with the same key must then return the outcome that was committed.
 */
describe('Idempotency-Key after an outcome the app could not learn', function () {
  this.timeout(120_000);
  let mariadb: ThrowawayMariadb | undefined;
  let admin: Connection;
  let backup: Connection;
  let proxy: FreezableProxy;
  let app: InProcessApp;
  let held: ReturnType<typeof holdableHasher>;

  before(async () => {
    mariadb = await startThrowawayMariadb();
    const direct = parseDatabaseUrl(mariadb.url);
    admin = await freshDatabase(direct);
    backup = await openAdminConnection(direct, 5000);
    proxy = await startFreezableProxy({ host: direct.host, port: direct.port });
    held = holdableHasher(await createPasswordHasher({ cost: 10 }));
    // Deadlines far away: the connection is lost first, at the moment the test chooses.
    app = await startInProcessApp({
      connection: { ...direct, port: proxy.port },
      acquireTimeoutMs: 10_000,
      hasher: held.hasher,
      env: { DB_QUERY_TIMEOUT_MS: '30000' },
    });
  });
  after(async () => {
    held?.release();
    await backup?.query('BACKUP STAGE END').catch(() => {});
    await app?.close();
    await proxy?.close();
    await backup?.end();
    await admin?.end();
    await mariadb?.destroy();
  });

  const accounts = async (email: string) => {
    const [rows] = await admin.query<RowDataPacket[]>('SELECT id FROM users WHERE email = ?', [email]);
    return rows.map((row) => Number(row['id']));
  };

  it('answers 504 when the answer to its COMMIT is lost, and the retry with the same key returns the committed outcome', async () => {
    const email = `unknown-${randomUUID()}@example.com`;
    const k = `"${randomUUID()}"`;
    const register = () =>
      request(`${app.url}/api/users`, {
        method: 'POST',
        json: { email, password, name: 'Ada' },
        headers: { 'idempotency-key': k },
      });
    // Hold the registration after it took its key, hold every commit, then let it run to its COMMIT.
    const hashing = held.hold();
    const first = register();
    await hashing;
    await backup.query('BACKUP STAGE START');
    await backup.query('BACKUP STAGE BLOCK_COMMIT');
    held.release();
    for (let i = 0; ; i++) {
      const [rows] = await admin.query<RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = 'app' AND INFO = 'COMMIT'",
      );
      if (Number(rows[0]?.['n']) > 0) break;
      assert.ok(i < 400, 'the COMMIT never reached the server');
      await sleep(25);
    }
    proxy.freeze();
    await backup.query('BACKUP STAGE END');
    for (let i = 0; (await accounts(email)).length === 0; i++) {
      assert.ok(i < 400, 'the server never committed the registration');
      await sleep(25);
    }
    proxy.sever();
    const unknown = await first;
    assert.equal(unknown.status, 504, unknown.text);
    assert.equal(unknown.body['error'], 'outcome_unknown');

    const retry = await register();
    assert.equal(retry.status, 201, retry.text);
    assert.deepEqual(await accounts(email), [retry.body['id']], 'the retry returns the account the server committed');
    assert.equal(retry.body['email'], email);
  });
});

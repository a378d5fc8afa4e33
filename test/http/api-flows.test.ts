import assert from 'node:assert/strict';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createAdmissionLimiter, type AdmissionLimiter } from '../../server/admission/admission-limiter.js';
import { createPasswordHasher } from '../../server/auth/password-hasher.js';
import { request } from '../../harness/http-client.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';
import { freshDatabase, testConnection } from '../../harness/test-database.js';

const database = 'app_test_api';
const connection = testConnection(database);

describe('API flows', () => {
  let admin: Connection;
  let app: InProcessApp;
  before(async () => {
    admin = await freshDatabase(connection);
    app = await startInProcessApp({ connection });
  });
  after(async () => {
    await app.close();
    await admin.end();
  });

  const register = (json: unknown) => request(`${app.url}/api/users`, { method: 'POST', json });
  const login = (json: unknown) => request(`${app.url}/api/login`, { method: 'POST', json });
  const me = (token: string) => request(`${app.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });

  it('registers, logs in, reads /api/me and logs out', async () => {
    const created = await register({
      email: '  Ada@Example.COM ',
      password: 'analytical-engine',
      name: 'Ada Lovelace',
    });
    assert.equal(created.status, 201);
    assert.deepEqual(Object.keys(created.body).sort(), ['createdAt', 'email', 'id', 'name']);
    assert.equal(created.body['email'], 'ada@example.com');
    assert.equal(created.body['name'], 'Ada Lovelace');

    const session = await login({ email: 'ADA@example.com', password: 'analytical-engine' });
    assert.equal(session.status, 200);
    const token = String(session.body['token']);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(Date.parse(String(session.body['expiresAt'])) > Date.now() + 3500_000);
    assert.deepEqual(session.body['user'], created.body);

    const profile = await me(token);
    assert.equal(profile.status, 200);
    assert.deepEqual(profile.body, created.body);
    assert.equal(profile.headers.get('cache-control'), 'no-store');
    assert.equal(profile.headers.get('x-content-type-options'), 'nosniff');

    const out = await request(`${app.url}/api/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(out.status, 204);
    assert.equal((await me(token)).status, 401);
  });

  it('stores only a hash of the password and of the token', async () => {
    await register({ email: 'grace@example.com', password: 'cobol-rules-1959', name: 'Grace' });
    const session = await login({ email: 'grace@example.com', password: 'cobol-rules-1959' });
    assert.equal(session.status, 200, session.text);
    const token = String(session.body['token']);
    const [users] = await admin.query<RowDataPacket[]>(
      "SELECT password_hash FROM users WHERE email = 'grace@example.com'",
    );
    assert.match(String(users[0]?.['password_hash']), /^\$scrypt\$/);
    const [sessions] = await admin.query<RowDataPacket[]>('SELECT token_hash FROM sessions');
    assert.ok(sessions.length >= 1, 'the login stored a session');
    for (const row of sessions) {
      const stored = row['token_hash'] as Buffer;
      assert.equal(stored.length, 32);
      assert.ok(!stored.toString('latin1').includes(token) && stored.toString('base64url') !== token);
    }
  });

  it('answers 409 to an email taken in any letter case', async () => {
    assert.equal((await register({ email: 'linus@example.com', password: 'kernel-hacker', name: 'L' })).status, 201);
    const again = await register({ email: 'LINUS@Example.com', password: 'other-password', name: 'L2' });
    assert.equal(again.status, 409);
    assert.equal(again.body['error'], 'email_taken');
    const [rows] = await admin.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM users WHERE email = 'linus@example.com'",
    );
    assert.equal(Number(rows[0]?.['n']), 1);
  });

  it('gives an unknown email and a wrong password the same 401 and body', async () => {
    await register({ email: 'alan@example.com', password: 'enigma-machine', name: 'Alan' });
    const wrongPassword = await login({ email: 'alan@example.com', password: 'bombe-machine' });
    const unknownEmail = await login({ email: 'nobody@example.com', password: 'bombe-machine' });
    for (const response of [wrongPassword, unknownEmail]) {
      assert.equal(response.status, 401);
      assert.equal(response.body['error'], 'invalid_credentials');
    }
    const { requestId: _a, instance: _c, ...first } = wrongPassword.body;
    const { requestId: _b, instance: _d, ...second } = unknownEmail.body;
    assert.deepEqual(first, second);
  });

  it('answers 422 with a message per invalid field', async () => {
    const response = await register({ email: 'not-an-email', password: 'short', name: '' });
    assert.equal(response.status, 422);
    assert.equal(response.body['error'], 'validation_failed');
    const fields = response.body['fields'] as Record<string, string>;
    assert.deepEqual(Object.keys(fields).sort(), ['email', 'name', 'password']);
    assert.match(fields['password'] ?? '', /at least 8/);
    const missing = await login({});
    assert.deepEqual(missing.body['fields'], { email: 'is required', password: 'is required' });
    const wrongTypes = await login({ email: 42, password: ['x'] });
    assert.equal(wrongTypes.status, 422);
  });

  it('rejects missing, malformed, unknown and expired tokens with 401', async () => {
    await register({ email: 'edsger@example.com', password: 'goto-considered', name: 'E' });
    const token = String((await login({ email: 'edsger@example.com', password: 'goto-considered' })).body['token']);
    await admin.query('UPDATE sessions SET expires_at = ? ', [new Date(Date.now() - 1000)]);
    // RFC 6750 §3.1: no bearer credentials at all get the bare challenge; a bearer token that is malformed, unknown
    // or expired is told invalid_token.
    const cases: [Record<string, string>, string][] = [
      [{}, 'Bearer'],
      [{ authorization: `Basic ${token}` }, 'Bearer'],
      [{ authorization: 'Bearer nope' }, 'Bearer error="invalid_token"'],
      [{ authorization: `Bearer ${'A'.repeat(43)}` }, 'Bearer error="invalid_token"'],
      [{ authorization: `Bearer ${token}` }, 'Bearer error="invalid_token"'],
    ];
    for (const [headers, challenge] of cases) {
      const response = await request(`${app.url}/api/me`, { headers });
      assert.equal(response.status, 401, JSON.stringify(headers));
      assert.equal(response.body['error'], 'unauthorized');
      assert.equal(response.headers.get('www-authenticate'), challenge, JSON.stringify(headers));
    }
  });

  it('echoes a sane X-Request-Id and generates one otherwise', async () => {
    const echoed = await request(`${app.url}/healthz`, { headers: { 'x-request-id': 'lb-123.abc' } });
    assert.equal(echoed.headers.get('x-request-id'), 'lb-123.abc');
    const replaced = await request(`${app.url}/nope`, { headers: { 'x-request-id': 'bad id with spaces' } });
    assert.match(String(replaced.body['requestId']), /^[0-9a-f-]{36}$/);
    assert.equal(replaced.headers.get('x-request-id'), replaced.body['requestId']);
  });
});

describe('login with a hash due for an upgrade', () => {
  let admin: Connection;
  let app: InProcessApp;
  let releaseSlot: () => void = () => undefined;
  let takeSlotAfterNextHash = false;
  before(async () => {
    admin = await freshDatabase(connection);
    // One hashing slot and no queue: the production limiter, refusing at once when busy.
    const real = createAdmissionLimiter({ concurrency: 1, maxQueue: 0, maxWaitMs: 1000 });
    // When asked, another login takes the only slot the moment this one's hash finishes, as under a flood:
    // the rehash that follows a correct password then meets a full limiter.
    const limiter: AdmissionLimiter = {
      ...real,
      run(work) {
        const result = real.run(work);
        if (takeSlotAfterNextHash) {
          takeSlotAfterNextHash = false;
          const takeSlot = () => void real.run(() => new Promise<void>((resolve) => (releaseSlot = resolve)));
          result.then(takeSlot, takeSlot);
        }
        return result;
      },
    };
    app = await startInProcessApp({ connection, hasher: await createPasswordHasher({ cost: 10, limiter }) });
  });
  after(async () => {
    releaseSlot();
    await app.close();
    await admin.end();
  });

  it('logs in with 200 when the rehash is refused, and upgrades the hash on a later login', async () => {
    const json = { email: 'barbara@example.com', password: 'abstract-data-types' };
    assert.equal((await request(`${app.url}/api/users`, { method: 'POST', json: { ...json, name: 'B' } })).status, 201);
    // The hash a previous, costlier setting stored.
    const older = await (await createPasswordHasher({ cost: 11 })).hash(json.password);
    await admin.query('UPDATE users SET password_hash = ? WHERE email = ?', [older, json.email]);

    takeSlotAfterNextHash = true;
    const refused = await request(`${app.url}/api/login`, { method: 'POST', json });
    assert.equal(refused.status, 200, refused.text);
    assert.ok(String(refused.body['token']).length > 0);
    const [kept] = await admin.query<RowDataPacket[]>('SELECT password_hash FROM users WHERE email = ?', [json.email]);
    assert.equal(kept[0]?.['password_hash'], older, 'the refused rehash left the stored hash alone');

    releaseSlot();
    assert.equal((await request(`${app.url}/api/login`, { method: 'POST', json })).status, 200);
    const [upgraded] = await admin.query<RowDataPacket[]>('SELECT password_hash FROM users WHERE email = ?', [
      json.email,
    ]);
    assert.match(String(upgraded[0]?.['password_hash']), /^\$scrypt\$ln=10,/);
  });
});

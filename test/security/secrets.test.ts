import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request, type JsonResponse } from '../../harness/http-client.js';
import { freshDatabase, testConnection, testDatabaseUrl } from '../../harness/test-database.js';

/*
 * Integrity and secrets: a real cluster (at LOG_LEVEL=trace, the chattiest it gets) goes through
 * a full flow with credentials in every place a client can put them; afterwards none of them may appear in
 * any line it printed (stdout JSON and stderr), in its database in plain form, or on /metrics. Also: the
 * metrics port and the API port serve disjoint things, and API responses carry the security headers.
 */

const database = 'app_test_secrets';
const secret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;
const sha256 = (text: string) => createHash('sha256').update(text).digest();

describe('secrets stay secret (real cluster)', function () {
  this.timeout(60_000);
  let admin: Connection;
  let app: ClusterProcess;
  /** Every value that must never be printed or stored as is. */
  const secrets = new Map<string, string>();
  /** Every API response of the flow, with what it was, for the header checks. */
  const responses: { what: string; response: JsonResponse }[] = [];
  const email = 'secret.keeper@example.com';
  let liveToken = '';

  const call = async (what: string, path: string, init: RequestInit & { json?: unknown } = {}) => {
    const response = await request(`${app.url}${path}`, init);
    responses.push({ what, response });
    return response;
  };
  const keep = (label: string, value: string) => {
    secrets.set(label, value);
    return value;
  };

  before(async () => {
    admin = await freshDatabase(testConnection(database));
    app = await startCluster({
      DATABASE_URL: testDatabaseUrl(database),
      WORKERS: '2',
      LOG_LEVEL: 'trace',
      ENABLE_TEST_ROUTES: 'false',
    });

    const password = keep('password', secret('Pw'));
    assert.equal(
      (await call('register', '/api/users', { method: 'POST', json: { email, password, name: 'Keeper' } })).status,
      201,
    );
    const session = await call('login', '/api/login', {
      method: 'POST',
      json: { email: email.toUpperCase(), password },
    });
    assert.equal(session.status, 200);
    const token = keep('token', String(session.body['token']));
    keep('Authorization header', `Bearer ${token}`);
    assert.equal(
      (await call('me', '/api/me', { headers: { authorization: `Bearer ${token}`, cookie: `session=${token}` } }))
        .status,
      200,
    );
    // With an Idempotency-Key, whose outcome (this token) is stored: encrypted, under a key only the client holds.
    const idempotencyKey = keep('Idempotency-Key', randomUUID());
    liveToken = keep(
      'second token',
      String(
        (
          await call('login again', '/api/login', {
            method: 'POST',
            json: { email, password },
            headers: { 'idempotency-key': `"${idempotencyKey}"` },
          })
        ).body['token'],
      ),
    );

    // Failed logins, for a known and an unknown account.
    const wrong = keep('wrong password', secret('Wrong'));
    for (const who of [email, 'nobody@example.com', email]) {
      assert.equal(
        (await call('failed login', '/api/login', { method: 'POST', json: { email: who, password: wrong } })).status,
        401,
      );
    }
    // Bodies that are refused but carry a password: malformed, invalid, in an unknown coding, too large.
    const inBadJson = keep('password in bad JSON', secret('BadJson'));
    const badJson = `{"email":"${email}","password":"${inBadJson}"`;
    for (const path of ['/api/login', '/api/users']) {
      assert.equal(
        (
          await call('bad JSON', path, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: badJson,
          })
        ).status,
        400,
      );
    }
    const withNul = keep('password with NUL', secret('Nul'));
    assert.equal(
      (
        await call('invalid', '/api/users', {
          method: 'POST',
          json: { email: 'x@example.com', password: `${withNul}\u0000`, name: 'X' },
        })
      ).status,
      422,
    );
    const compressed = keep('password in unsupported coding', secret('Compress'));
    const coded = await call('bad coding', '/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'compress' },
      body: JSON.stringify({ email, password: compressed }),
    });
    assert.equal(coded.status, 415);
    const huge = keep('password in huge body', secret('Huge'));
    assert.equal(
      (
        await call('too large', '/api/login', {
          method: 'POST',
          json: { email, password: huge, pad: 'x'.repeat(20_000) },
        })
      ).status,
      413,
    );
    const asText = keep('password as text/plain', secret('Text'));
    assert.equal(
      (
        await call('wrong type', '/api/login', {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: JSON.stringify({ email, password: asText }),
        })
      ).status,
      415,
    );

    // Credentials in headers that are not a valid bearer token, and in cookies.
    const basic = keep('Basic credentials', `${email}:${secret('Basic')}`);
    const basicHeader = keep('Basic header', `Basic ${Buffer.from(basic).toString('base64')}`);
    const fakeToken = keep('unknown token', randomBytes(32).toString('base64url'));
    const cookie = keep('cookie', secret('Cookie'));
    for (const authorization of [basicHeader, `Bearer ${fakeToken}`, `Token ${fakeToken}`]) {
      assert.equal(
        (await call('bad credentials', '/api/me', { headers: { authorization, cookie: `sid=${cookie}` } })).status,
        401,
      );
    }
    // Unhandled-looking paths that carry the token and password.
    assert.equal(
      (await call('unknown path', `/api/users/${token}/../../etc/passwd?token=${token}&password=${password}`)).status,
      404,
    );
    assert.equal((await call('token in query', `/api/me?access_token=${token}`)).status, 401);
    assert.equal(
      (
        await call('password in query', `/api/login?password=${password}`, {
          method: 'POST',
          json: { email, password: wrong },
        })
      ).status,
      401,
    );
    assert.equal(
      (await call('wrong method', '/api/logout', { headers: { authorization: `Bearer ${token}` } })).status,
      405,
    );

    // Log out the first session.
    assert.equal(
      (await call('logout', '/api/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status,
      204,
    );
    assert.equal(
      (await call('me after logout', '/api/me', { headers: { authorization: `Bearer ${token}` } })).status,
      401,
    );
  });
  after(async () => {
    await app?.stop();
    await admin?.end();
  });

  it('stores tokens only as SHA-256 and passwords only as scrypt hashes', async () => {
    const [sessions] = await admin.query<RowDataPacket[]>('SELECT token_hash FROM sessions');
    const stored = sessions.map((row) => row['token_hash'] as Buffer);
    assert.equal(stored.length, 1, 'only the second session is still live');
    assert.ok(stored[0]?.equals(sha256(liveToken)), 'the live token is stored as its SHA-256');
    assert.ok(!stored.some((hash) => hash.equals(sha256(secrets.get('token') ?? ''))), 'the revoked session is gone');
    assert.ok(
      !stored.some((hash) => hash.equals(Buffer.from(liveToken, 'base64url'))),
      'not the raw token bytes either',
    );
    // Nothing in any table holds a secret in plain form (text, or the token's raw bytes).
    for (const table of ['users', 'sessions', 'login_throttle', 'idempotency_keys', 'schema_migrations']) {
      const [rows] = await admin.query<RowDataPacket[]>(`SELECT * FROM ${table}`);
      const dump = Buffer.concat(
        rows.flatMap((row) => Object.values(row).map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v))))),
      );
      for (const [label, value] of secrets) assert.ok(!dump.includes(value), `${table} holds the ${label}`);
      assert.ok(!dump.includes(Buffer.from(liveToken, 'base64url')), `${table} holds the raw token bytes`);
    }
    const [users] = await admin.query<RowDataPacket[]>('SELECT password_hash FROM users WHERE email = ?', [email]);
    assert.match(
      String(users[0]?.['password_hash']),
      /^\$scrypt\$ln=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/,
    );
  });

  it('serves /metrics on the metrics port only, and no API route there', async () => {
    const onApi = await call('metrics on API port', '/metrics');
    assert.equal(onApi.status, 404);
    assert.equal(onApi.body['error'], 'not_found');
    const metricsUrl = `http://127.0.0.1:${app.metricsPort}`;
    const scrape = await fetch(`${metricsUrl}/metrics`);
    const text = await scrape.text();
    assert.equal(scrape.status, 200);
    assert.match(text, /^http_server_request_duration_seconds_count\{/m);
    for (const [label, value] of secrets) assert.ok(!text.includes(value), `/metrics shows the ${label}`);
    assert.ok(!text.includes(email), '/metrics shows no email');

    const sessionsBefore = await admin
      .query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM sessions')
      .then(([rows]) => Number(rows[0]?.['n']));
    const password = secrets.get('password') ?? '';
    for (const [method, path, body] of [
      ['GET', '/healthz'],
      ['GET', '/readyz'],
      ['GET', '/api/me'],
      ['POST', '/api/login', { email, password }],
      ['POST', '/api/users', { email: 'via-metrics@example.com', password, name: 'M' }],
      ['POST', '/api/logout'],
      ['GET', '/'],
      ['GET', '/metrics/../api/me'],
    ] as const) {
      const response = await fetch(`${metricsUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${liveToken}`, 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const answer = await response.text();
      assert.ok([404, 405].includes(response.status), `${method} ${path} on the metrics port: ${response.status}`);
      assert.ok(!answer.includes('{'), `${method} ${path} on the metrics port answered like the API: ${answer}`);
    }
    const [after] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM sessions');
    assert.equal(Number(after[0]?.['n']), sessionsBefore, 'no login happened through the metrics port');
    const [viaMetrics] = await admin.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM users WHERE email = 'via-metrics@example.com'",
    );
    assert.equal(Number(viaMetrics[0]?.['n']), 0);
  });

  it('sends nosniff and no-store on API responses, authenticated ones and errors included', () => {
    assert.ok(responses.length >= 20);
    for (const { what, response } of responses) {
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', `${what} (${response.status})`);
      assert.equal(response.headers.get('cache-control'), 'no-store', `${what} (${response.status})`);
    }
    const statuses = new Set(responses.map(({ response }) => response.status));
    for (const status of [200, 201, 204, 400, 401, 404, 405, 413, 415, 422])
      assert.ok(statuses.has(status), `the flow covered ${status}`);
  });

  it('prints no password, token, Authorization value or cookie in any log line (stdout and stderr)', async () => {
    await app.stop();
    const lines = [...app.logs.map((line) => JSON.stringify(line)), ...app.stderr];
    // The logs are real and complete: one request line per API call, at trace level, from the workers.
    const requestLines = app.logs.filter((line) => line.msg === 'request');
    assert.ok(
      requestLines.length >= responses.length,
      `${requestLines.length} request lines for ${responses.length} requests`,
    );
    const loggedIds = new Set(requestLines.map((line) => line['requestId']));
    for (const { what, response } of responses)
      assert.ok(loggedIds.has(response.headers.get('x-request-id')), `${what} was logged`);
    for (const [label, value] of secrets) {
      const leaking = lines.filter((line) => line.includes(value));
      assert.deepEqual(leaking, [], `the ${label} appears in the logs`);
    }
    // Nor the credentials in another encoding a logger might choose.
    for (const value of [secrets.get('token') ?? '', liveToken]) {
      for (const encoded of [
        Buffer.from(value, 'base64url').toString('hex'),
        Buffer.from(value, 'base64url').toString('base64'),
      ]) {
        assert.ok(!lines.some((line) => line.includes(encoded)), 'a token in another encoding appears in the logs');
      }
    }
  });
});

import assert from 'node:assert/strict';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { request, type JsonResponse } from '../../harness/http-client.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';
import { freshDatabase, testConnection } from '../../harness/test-database.js';

const database = 'app_test_bad_input';
const connection = testConnection(database);

function assertJsonError(response: JsonResponse, status: number, code: string): void {
  assert.equal(response.status, status, response.text);
  assert.equal(response.body['error'], code);
  assert.equal(typeof response.body['message'], 'string');
  assert.match(String(response.body['requestId']), /.+/);
  assert.doesNotMatch(response.text, /at \w+ \(|node_modules|SELECT|INSERT|\.ts:|\.js:/, 'no stack trace or SQL');
}

describe('bad input', () => {
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
  const post = (path: string, body: string | Buffer, contentType = 'application/json') =>
    request(`${app.url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });

  it('answers 400 to malformed or truncated JSON', async () => {
    for (const body of ['{', '{"email":', 'nul', '{"a":1}}', "{'a':1}", '']) {
      assertJsonError(await post('/api/login', body), 400, 'malformed_json');
    }
  });

  it('answers 413 past 16 KB, whether or not Content-Length says so up front', async () => {
    const big = JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(20_000) });
    assertJsonError(await post('/api/users', big), 413, 'payload_too_large');
    const chunked = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const streamed = await request(`${app.url}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    assertJsonError(streamed, 413, 'payload_too_large');
  });

  it('answers 415 to a non-JSON content type on a JSON route', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=latin1',
    ]) {
      assertJsonError(await post('/api/users', '{"email":"a@b.co"}', type), 415, 'unsupported_media_type');
    }
    const none = await request(`${app.url}/api/login`, { method: 'POST', body: '{}', headers: { 'content-type': '' } });
    assertJsonError(none, 415, 'unsupported_media_type');
  });

  it('answers 422 to JSON of the wrong shape, and 400 to prototype-polluting keys', async () => {
    for (const body of [
      '[]',
      '[{"email":"a@b.co"}]',
      '{"email":null,"password":null}',
      '{"constructor":{"prototype":{}}}',
      `{"email":"a@b.co","password":"pw-ok-123","name":"a\\u0000b"}`,
    ]) {
      const response = await post('/api/users', body);
      assertJsonError(response, 422, 'validation_failed');
    }
    // A lone surrogate cannot be stored faithfully as UTF-8.
    assertJsonError(
      await post('/api/users', '{"email":"s@example.com","password":"pw-ok-123","name":"a\\ud800b"}'),
      422,
      'validation_failed',
    );
    // The parser refuses __proto__ keys outright.
    assertJsonError(await post('/api/users', '{"__proto__":{"admin":true},"email":"x@y.zz"}'), 400, 'malformed_json');
    assert.equal(({} as Record<string, unknown>)['admin'], undefined, 'no prototype pollution');
  });

  it('answers 404 for unknown routes and 405 (with Allow) for wrong methods, as JSON', async () => {
    assertJsonError(await request(`${app.url}/api/nope`), 404, 'not_found');
    const wrong = await request(`${app.url}/api/login`);
    assertJsonError(wrong, 405, 'method_not_allowed');
    assert.equal(wrong.headers.get('allow'), 'POST');
    assertJsonError(await request(`${app.url}/healthz`, { method: 'PUT', body: '{}' }), 405, 'method_not_allowed');
  });

  it('changes nothing in the database for any rejected request', async () => {
    const snapshot = async () => {
      const [rows] = await admin.query<RowDataPacket[]>(
        'SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM sessions) AS sessions',
      );
      return rows[0];
    };
    const before = await snapshot();
    await post('/api/users', '{"email":"x@y.zz","password":"12345678","name":"X", ');
    await post('/api/users', '{"email":"x@y.zz","password":"1234","name":"X"}');
    await post('/api/users', '{"email":"x@y.zz","password":"12345678","name":"X"}', 'text/plain');
    await post('/api/login', '{"email":"x@y.zz","password":"12345678"}');
    assert.deepEqual(await snapshot(), before);
  });
});

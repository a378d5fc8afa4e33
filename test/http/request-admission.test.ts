import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { request, type JsonResponse } from '../../harness/http-client.js';
import { freshDatabase, testConnection } from '../../harness/test-database.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';

/*
 * The worker's request line: at most HTTP_MAX_CONCURRENT_REQUESTS run at once, the rest wait first come first
 * served, probes never wait, a request that waited too long or found the line full is a 503 `overloaded` that did
 * no work, and a client that gave up while waiting gets nothing done for it. A real worker (composeWorker) on a
 * real port, against MariaDB; requests are held in the pool with the test route's SLEEP.
 */

const database = 'app_test_admission';
const connection = testConnection(database);

/** A series' value summed over labels; `_count` of a histogram too. */
async function metricValue(app: InProcessApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = app.registry.getSingleMetric(name.replace(/_count$/, ''));
  assert.ok(metric, `${name} is registered`);
  const { values } = await metric.get();
  return values
    .filter((v) => ((v as { metricName?: string }).metricName ?? name) === name)
    .filter((v) => Object.entries(labels).every(([key, value]) => String(v.labels[key]) === value))
    .reduce((sum, v) => sum + v.value, 0);
}

const hold = (app: InProcessApp, seconds: number) => request(`${app.url}/test/db-sleep?seconds=${seconds}`);

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    if (await condition()) return;
    await sleep(10);
  }
  assert.fail(`timed out waiting until ${what}`);
}

const openConnections = (server: Server) =>
  new Promise<number>((resolve, reject) =>
    server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );

/** A logger that keeps every line it is given, parsed: the request log of an in-process app. */
function capturingLogger(): { readonly logger: pino.Logger; readonly lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

function assertOverloaded(response: JsonResponse): void {
  assert.equal(response.status, 503, response.text);
  assert.equal(response.body['error'], 'overloaded');
  assert.equal(response.headers.get('retry-after'), '1');
  assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
}

describe('request admission', function () {
  this.timeout(30_000);
  let admin: Connection;
  const apps: InProcessApp[] = [];
  const start = async (env: Record<string, string>, logger?: pino.Logger) => {
    const app = await startInProcessApp({ connection, env, ...(logger ? { logger } : {}) });
    apps.push(app);
    return app;
  };

  before(async () => {
    admin = await freshDatabase(connection);
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  after(async () => {
    await admin.end();
  });

  it('runs at most the limit at once; the rest wait in line and are served in turn, and probes do not wait', async () => {
    const app = await start({ HTTP_MAX_CONCURRENT_REQUESTS: '2' });
    // Held long enough that the requests below arrive while these still run, even on a busy machine.
    const held = [hold(app, 2), hold(app, 2)];
    await until(async () => (await metricValue(app, 'http_server_active_requests')) === 2, 'two requests run');
    const waiting = [hold(app, 0), hold(app, 0), hold(app, 0)];
    await until(async () => (await metricValue(app, 'http_server_queued_requests')) === 3, 'three requests wait');
    // A full line does not hold the load balancer's probes.
    assert.equal((await request(`${app.url}/healthz`)).status, 200);
    assert.equal((await request(`${app.url}/readyz`)).status, 200);
    assert.equal(await metricValue(app, 'http_server_queued_requests'), 3);
    for (const response of await Promise.all([...held, ...waiting])) assert.equal(response.status, 200, response.text);
    assert.equal(await metricValue(app, 'http_server_queued_requests'), 0);
    assert.equal(await metricValue(app, 'http_server_concurrency_limit'), 2);
    // The waits of the three that waited are observed; those let in at once and the probes never waited.
    assert.equal(await metricValue(app, 'http_server_queue_wait_seconds_count'), 3);
    assert.equal(await metricValue(app, 'http_server_queue_refusals_total'), 0);
  });

  it('answers 503 overloaded, with Retry-After, to a request that waited HTTP_QUEUE_TIMEOUT_MS, and never runs it', async () => {
    const app = await start({ HTTP_MAX_CONCURRENT_REQUESTS: '1', HTTP_QUEUE_TIMEOUT_MS: '100' });
    const held = hold(app, 3);
    await until(async () => (await metricValue(app, 'http_server_active_requests')) === 1, 'one request runs');
    const email = 'waited-too-long@example.test';
    assertOverloaded(
      await request(`${app.url}/api/users`, {
        method: 'POST',
        json: { email, password: 'long enough password', name: 'W' },
      }),
    );
    assert.equal((await held).status, 200);
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM users WHERE email = ?', [email]);
    assert.equal(Number(rows[0]?.['n']), 0, 'the refused registration created no user');
    assert.equal(await metricValue(app, 'http_server_queue_refusals_total', { reason: 'wait_timeout' }), 1);
  });

  it('answers 503 overloaded at once when the line is full', async () => {
    const app = await start({ HTTP_MAX_CONCURRENT_REQUESTS: '1', HTTP_QUEUE_MAX: '1' });
    const held = hold(app, 2);
    await until(async () => (await metricValue(app, 'http_server_active_requests')) === 1, 'one request runs');
    const waiting = hold(app, 0);
    await until(async () => (await metricValue(app, 'http_server_queued_requests')) === 1, 'one request waits');
    assertOverloaded(await hold(app, 0));
    assert.equal(await metricValue(app, 'http_server_queue_refusals_total', { reason: 'queue_full' }), 1);
    assert.equal((await held).status, 200);
    assert.equal((await waiting).status, 200);
  });

  it('does nothing for a client that gave up while its request waited', async () => {
    const app = await start({ HTTP_MAX_CONCURRENT_REQUESTS: '1' });
    const held = hold(app, 2);
    await until(async () => (await metricValue(app, 'http_server_active_requests')) === 1, 'one request runs');
    const email = 'gave-up@example.test';
    const gaveUp = new AbortController();
    const abandoned = fetch(`${app.url}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'long enough password', name: 'G' }),
      signal: gaveUp.signal,
    }).catch((error: unknown) => error);
    await until(async () => (await metricValue(app, 'http_server_queued_requests')) === 1, 'the request waits');
    gaveUp.abort();
    assert.ok((await abandoned) instanceof Error);
    assert.equal((await held).status, 200);
    // The line has moved on past it: a request after it is served.
    assert.equal((await hold(app, 0)).status, 200);
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM users WHERE email = ?', [email]);
    assert.equal(Number(rows[0]?.['n']), 0, 'no user was created for the client that left');
  });

  it('lets a client that hangs up while it waits leave the line at once: a live client takes its place, and the hang-up is a 499', async () => {
    const { logger, lines } = capturingLogger();
    const app = await start({ HTTP_MAX_CONCURRENT_REQUESTS: '1', HTTP_QUEUE_MAX: '1' }, logger);
    // Held long enough that everything below happens while it still runs, even on a busy machine.
    let heldAnswered = false;
    const held = hold(app, 3).finally(() => (heldAnswered = true));
    await until(async () => (await metricValue(app, 'http_server_active_requests')) === 1, 'one request runs');
    // A raw socket, closed outright: fetch's abort leaves the connection half open for seconds, and the test waits
    // until the server has seen the close.
    const abandoned = connect(Number(new URL(app.url).port), '127.0.0.1');
    abandoned.write('GET /test/db-sleep?seconds=0 HTTP/1.1\r\nHost: test\r\n\r\n');
    await until(async () => (await metricValue(app, 'http_server_queued_requests')) === 1, 'the request waits');
    abandoned.destroy();
    await until(async () => (await openConnections(app.server)) === 1, 'the server sees the hang-up');
    assert.equal(heldAnswered, false, 'the held request still runs');
    // The line (one place) is free again: a live client waits in it instead of being refused.
    const live = hold(app, 0);
    await until(async () => (await metricValue(app, 'http_server_queued_requests')) === 1, 'the live client waits');
    assert.equal((await live).status, 200);
    assert.equal((await held).status, 200);
    const statuses = lines.filter((line) => line['msg'] === 'request').map((line) => line['status']);
    assert.deepEqual(statuses.sort(), [200, 200, 499]);
    const hungUp = lines.find((line) => line['status'] === 499);
    assert.equal(hungUp?.['error'], 'client_closed_request');
    assert.equal(hungUp?.['level'], 30, 'logged at info: a client that left is not a failure of ours');
    const byStatus = (status: string) =>
      metricValue(app, 'http_server_request_duration_seconds_count', { http_response_status_code: status });
    assert.equal(await byStatus('499'), 1);
    assert.equal(await byStatus('404'), 0);
    assert.equal(await byStatus('503'), 0);
    assert.equal(await metricValue(app, 'http_server_queue_abandoned_total'), 1);
    assert.equal(await metricValue(app, 'http_server_queue_refusals_total'), 0);
  });

  it('by default runs twice the pool live ceiling at once, and at least 16', async () => {
    const app = await start({});
    // The in-process worker's pool has 5 connections: twice that is under the floor.
    assert.equal(await metricValue(app, 'http_server_concurrency_limit'), 16);
    app.db.setCeiling(20);
    assert.equal(await metricValue(app, 'http_server_concurrency_limit'), 40);
  });
});

import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { openAdminConnection } from '../../server/db/admin-connection.js';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { closedLoop, send, Stopper, tally, type Call, type Sample } from '../../harness/traffic.js';
import { figures } from './chaos-fixtures.js';

/*
 * An answer never lies, under a stall. A stream of registrations (half with an Idempotency-Key, half without) runs
 * against the cluster while mariadbd is SIGSTOPped for longer than the request deadline, then SIGCONTed. Requests
 * that were committing when it stopped, waiting on it, or arriving while it was stopped all get answered; afterwards:
 *
 * - every 201's account exists, with the id it was told;
 * - every 503's account does not (a 503 means nothing was written), including after the server ran whatever it had
 *   been sent before it stopped;
 * - every 504 with a key is resolved by retrying the same key and body: the retry answers 201, and exactly that account
 *   exists. (A 504 without a key is the client's to find out; it is counted.)
 * - nothing else is answered: no 409 `email_taken` for an account the client was told was not created, no hang.
 */

const acquireTimeoutMs = 500;
const queryTimeoutMs = 1000;
const requestDeadlineMs = acquireTimeoutMs + queryTimeoutMs;
const stallMs = 3 * requestDeadlineMs;
const clients = 8;
const password = 'correct horse battery staple';

interface Registration {
  readonly call: Call;
  readonly email: string;
  readonly key: string | undefined;
}

describe('chaos: MySQL stalls across the request deadline during registrations', function () {
  this.timeout(180_000);
  let mariadb: ThrowawayMariadb | undefined;
  let cluster: ClusterProcess | undefined;
  let admin: Connection | undefined;

  before(async () => {
    mariadb = await startThrowawayMariadb();
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: mariadb.url,
      DB_ACQUIRE_TIMEOUT_MS: String(acquireTimeoutMs),
      DB_QUERY_TIMEOUT_MS: String(queryTimeoutMs),
    });
    admin = await openAdminConnection(parseDatabaseUrl(mariadb.url), 5000);
  });
  after(async () => {
    await admin?.end();
    await cluster?.stop();
    await mariadb?.destroy();
  });

  it('503: never written; 201: written; 504: one retry with the same key later, written exactly once', async () => {
    const c = cluster!;
    const db = mariadb!;
    const run = randomUUID().slice(0, 8);
    const registrations = new Map<string, Registration>();
    const stopper = new Stopper();
    const stream = closedLoop({
      baseUrl: c.url,
      clients,
      durationMs: 60_000,
      maxRequestsPerClient: 10_000,
      // Far beyond the request deadline: a request left hanging by the stall shows up as TIMEOUT.
      timeoutMs: 10_000,
      stopper,
      next: (client, i) => {
        const email = `stall-${run}-${client}-${i}@example.com`;
        const key = client % 2 === 0 ? randomUUID() : undefined;
        const call: Call = {
          method: 'POST',
          path: '/api/users',
          json: { email, password, name: `Stall ${client}` },
          headers: key ? { 'Idempotency-Key': `"${key}"` } : {},
        };
        registrations.set(`c${client}-${i}`, { call, email, key });
        return call;
      },
    });
    let stoppedAt = 0;
    let resumedAt = 0;
    try {
      await sleep(1500);
      stoppedAt = Date.now();
      await db.pause();
      await sleep(stallMs);
      resumedAt = Date.now();
      db.signal('SIGCONT');
      await sleep(3000);
    } finally {
      db.signal('SIGCONT');
      stopper.stop();
    }
    const samples = await stream;
    const registrationOf = (s: Sample) => registrations.get(s.requestId.split('-').slice(0, 2).join('-'))!;

    // Only 201, 503 and 504, each error with Retry-After.
    const unexpected = samples.filter(
      (s) => !(s.status === 201 || ((s.status === 503 || s.status === 504) && Number(s.retryAfter) >= 1)),
    );
    assert.deepEqual(
      unexpected.map((s) => `${s.error ?? s.status} ${s.body.slice(0, 160)}`),
      [],
    );
    const unavailable = samples.filter((s) => s.status === 503);
    const unknown = samples.filter((s) => s.status === 504);
    // Requests keep arriving through a stall twice as long as their deadline: some are certainly refused.
    assert.ok(
      unavailable.some((s) => s.startedAt > stoppedAt && s.endedAt < resumedAt),
      'no 503 during the stall',
    );
    assert.ok(
      samples.some((s) => s.status === 201 && s.startedAt > resumedAt),
      'no registration succeeded after the stall',
    );

    // Every 504 with a key: retry with the same key and body until the answer is final.
    const resolved = new Map<string, { status: number | undefined; id: unknown; attempts: number }>();
    for (const sample of unknown) {
      const registration = registrationOf(sample);
      if (!registration.key) continue;
      let attempts = 0;
      let answer: Sample;
      for (;;) {
        attempts++;
        answer = await send(c.url, registration.call, { timeoutMs: 10_000 });
        const retryable =
          answer.status === 503 ||
          answer.status === 504 ||
          (answer.status === 409 && answer.body.includes('idempotency_key_in_use'));
        if (!retryable || attempts >= 30) break;
        await sleep(1000 * Math.max(1, Number(answer.retryAfter ?? 1)));
      }
      const body = answer.status === 201 ? (JSON.parse(answer.body) as { id: unknown }) : { id: undefined };
      resolved.set(registration.email, { status: answer.status, id: body.id, attempts });
    }

    const [rows] = await admin!.query<RowDataPacket[]>('SELECT id, email FROM users WHERE email LIKE ?', [
      `stall-${run}-%`,
    ]);
    const accounts = new Map<string, number[]>();
    for (const row of rows) {
      const email = String(row['email']);
      accounts.set(email, [...(accounts.get(email) ?? []), Number(row['id'])]);
    }

    figures('stall during registrations', {
      requests: samples.length,
      outcomes: tally(samples),
      unknownWithKey: unknown.filter((s) => registrationOf(s).key).length,
      unknownWithoutKey: unknown.filter((s) => !registrationOf(s).key).length,
      unknownWithoutKeyWritten: unknown.filter((s) => !registrationOf(s).key && accounts.has(registrationOf(s).email))
        .length,
      retries: [...resolved.values()].reduce((sum, r) => sum + r.attempts, 0),
    });

    const wrong: string[] = [];
    for (const s of samples) {
      const { email } = registrationOf(s);
      const ids = accounts.get(email) ?? [];
      if (s.status === 201 && !(ids.length === 1 && ids[0] === (JSON.parse(s.body) as { id: number }).id))
        wrong.push(`201 but accounts ${JSON.stringify(ids)}: ${email}`);
      if (s.status === 503 && ids.length > 0) wrong.push(`503 but written: ${email} ${s.body.slice(0, 120)}`);
      const retried = resolved.get(email);
      if (retried && !(retried.status === 201 && ids.length === 1 && ids[0] === retried.id))
        wrong.push(`504 retried → ${retried.status} after ${retried.attempts}, accounts ${JSON.stringify(ids)}`);
    }
    assert.deepEqual(wrong, []);
  });
});

import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { startFreezableProxy, type FreezableProxy } from '../helpers/freezable-proxy.js';
import { scrape } from '../../harness/scrape.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { closedLoop, send, Stopper, tally, type Sample } from '../../harness/traffic.js';
import { waitUntil } from '../../harness/wait-until.js';
import { describeFailures, figures, ok, signUp } from './chaos-fixtures.js';

/*
 * Faults where MySQL stops answering without saying so: no RST, no FIN, no error. Without a statement deadline every
 * connection open at that moment hangs, stays "used", and every later request is an acquire timeout until the kernel
 * gives up on the sockets (about 15 minutes). With it, each such statement fails at DB_QUERY_TIMEOUT_MS, its connection
 * is destroyed (never returned), its server thread is killed from a fresh connection, and the pool refills.
 */

const acquireTimeoutMs = 1000;
const queryTimeoutMs = 2000;
// Every request ends within acquire + statement deadline; the client waits a few seconds more before calling it a hang.
const clientTimeoutMs = acquireTimeoutMs + queryTimeoutMs + 3000;

const answered = (s: Sample) => ok(s) || (s.status === 503 && Number(s.retryAfter) >= 1);

async function usedConnections(cluster: ClusterProcess): Promise<number> {
  return (await scrape(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).sum('db_client_connection_count', {
    db_client_connection_state: 'used',
  });
}

/** Polls until the pools report no connection lent out (kills and refills take a moment), or `ms` passed. */
async function settleUsed(cluster: ClusterProcess, ms: number): Promise<number> {
  const until = Date.now() + ms;
  let used = await usedConnections(cluster);
  while (used > 0 && Date.now() < until) {
    await sleep(200);
    used = await usedConnections(cluster);
  }
  return used;
}

async function appThreads(admin: Connection): Promise<{ id: number; command: string; info: string | null }[]> {
  const [rows] = await admin.query<RowDataPacket[]>(
    "SELECT ID, COMMAND, INFO FROM information_schema.PROCESSLIST WHERE DB = 'app' AND ID <> CONNECTION_ID()",
  );
  return rows.map((r) => ({
    id: Number(r['ID']),
    command: String(r['COMMAND']),
    info: (r['INFO'] as string | null) ?? null,
  }));
}

describe('chaos: MySQL stops answering without closing anything', function () {
  this.timeout(120_000);
  let mariadb: ThrowawayMariadb | undefined;
  let admin: Connection | undefined;
  let cluster: ClusterProcess | undefined;
  let proxy: FreezableProxy | undefined;

  beforeEach(async () => {
    mariadb = await startThrowawayMariadb();
    admin = await createConnection(mariadb.url);
  });

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
    await proxy?.close();
    proxy = undefined;
    await admin?.end().catch(() => admin?.destroy());
    await mariadb?.destroy();
  });

  it('a silent path loss (a proxy stops forwarding on its open connections): 200s again within the statement deadline + 5 s, nothing stuck', async () => {
    proxy = await startFreezableProxy({ host: '127.0.0.1', port: mariadb!.port });
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: `mysql://root@127.0.0.1:${proxy.port}/app`,
      DB_ACQUIRE_TIMEOUT_MS: String(acquireTimeoutMs),
      DB_QUERY_TIMEOUT_MS: String(queryTimeoutMs),
    });
    const { auth } = await signUp(cluster.url, 'path-loss');
    const stopper = new Stopper();
    const served = new Set<number>();
    const load = closedLoop({
      baseUrl: cluster.url,
      clients: 40,
      durationMs: 30_000,
      maxRequestsPerClient: 5000,
      timeoutMs: clientTimeoutMs,
      stopper,
      next: () => ({ path: '/api/me', headers: auth }),
      onSample: (s) => ok(s) && served.add(s.client),
    });
    let frozenAt = 0;
    let frozenIds: number[] = [];
    // A statement still running on the server when the path is lost: without a KILL it would run on, unseen.
    let long: Promise<Sample> | undefined;
    try {
      // The pools are open and in use: every client has been answered.
      await waitUntil(() => served.size === 40, { what: 'every client answered', timeoutMs: 20_000 });
      long = send(cluster.url, { path: '/test/db-sleep?seconds=25' }, { timeoutMs: clientTimeoutMs });
      await waitUntil(async () => (await appThreads(admin!)).some((t) => /SLEEP/i.test(t.info ?? '')), {
        what: 'the long statement runs on the server',
        timeoutMs: 10_000,
      });
      frozenIds = (await appThreads(admin!)).map((t) => t.id);
      frozenAt = Date.now();
      const frozen = proxy.freeze();
      assert.ok(frozen > 0, 'connections were open when the path was lost');
      await sleep(queryTimeoutMs + 8000);
    } finally {
      stopper.stop();
    }
    const samples = await load;
    const longSample = await long!;

    const afterFreeze = samples.filter((s) => s.startedAt >= frozenAt);
    const firstOk = afterFreeze.filter(ok).sort((a, b) => a.endedAt - b.endedAt)[0];
    const hangs = samples.filter((s) => !answered(s));
    const used = await settleUsed(cluster, 10_000);
    const running = (await appThreads(admin!)).filter((t) => frozenIds.includes(t.id) && t.command !== 'Sleep');
    figures('silent path loss', {
      requests: samples.length,
      outcomes: tally(samples),
      afterFreeze: tally(afterFreeze),
      firstOkAfterFreezeMs: firstOk ? firstOk.endedAt - frozenAt : NaN,
      long: longSample.error ?? longSample.status,
      usedAfterLoad: used,
      frozenThreadsStillRunning: running.length,
    });

    assert.deepEqual(
      hangs.map((s) => s.error ?? `${s.status} ${s.body}`),
      [],
      'every request got 200 or 503 + Retry-After in time',
    );
    assert.ok(
      firstOk,
      `no 200 after the freeze: ${JSON.stringify(tally(afterFreeze))}\n${describeFailures(afterFreeze.filter((s) => !ok(s)))}`,
    );
    assert.ok(
      firstOk.endedAt - frozenAt <= queryTimeoutMs + 5000,
      `first 200 came ${firstOk.endedAt - frozenAt} ms after the freeze`,
    );
    assert.equal(longSample.status, 503, `the statement on the lost path: ${longSample.error ?? longSample.body}`);
    assert.equal(used, 0, 'no connection stays counted as used after the load');
    assert.deepEqual(running, [], 'no statement from the frozen connections is still running on MySQL');

    await cluster.stop(); // flushes the request lines
    const causes = new Set(
      cluster.logs.filter((l) => l.msg === 'request' && Number(l['status']) >= 500).map((l) => String(l['cause'])),
    );
    assert.ok(causes.has('query_timeout'), `503 causes: ${[...causes].join(', ')}`);
  });

  it('a stalled server (SIGSTOP longer than the statement deadline): only bounded 503s while stalled, full recovery after SIGCONT', async () => {
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: mariadb!.url,
      DB_ACQUIRE_TIMEOUT_MS: String(acquireTimeoutMs),
      DB_QUERY_TIMEOUT_MS: String(queryTimeoutMs),
    });
    const { auth } = await signUp(cluster.url, 'stall');
    const stopper = new Stopper();
    // Full recovery is asserted from 5 s after SIGCONT: the load runs until every client was answered from then on.
    const recoveredWithinMs = 5000;
    let resumedAt = Number.POSITIVE_INFINITY;
    const served = new Set<number>();
    const answeredLate = new Set<number>();
    const load = closedLoop({
      baseUrl: cluster.url,
      clients: 20,
      durationMs: 60_000,
      maxRequestsPerClient: 100_000,
      timeoutMs: clientTimeoutMs,
      stopper,
      next: () => ({ path: '/api/me', headers: auth }),
      onSample(s) {
        if (ok(s)) served.add(s.client);
        if (ok(s) && s.startedAt >= resumedAt + recoveredWithinMs) answeredLate.add(s.client);
      },
    });
    let stoppedAt = 0;
    try {
      await waitUntil(() => served.size === 20, { what: 'every client answered', timeoutMs: 20_000 });
      // The window opens once every server thread has stopped: until then one may still answer a query.
      await mariadb!.pause();
      stoppedAt = Date.now();
      // Longer than every deadline together, and than the client's patience: a request that waited it out would be a hang.
      await sleep(clientTimeoutMs + 2000);
      resumedAt = Date.now();
      mariadb!.signal('SIGCONT');
      await waitUntil(() => answeredLate.size === 20, {
        what: `every client answered from ${recoveredWithinMs} ms after SIGCONT`,
        timeoutMs: recoveredWithinMs + 20_000,
      });
    } finally {
      mariadb!.signal('SIGCONT');
      stopper.stop();
    }
    const samples = await load;
    const stalled = samples.filter((s) => s.startedAt > stoppedAt && s.endedAt < resumedAt);
    const tail = samples.filter((s) => s.startedAt >= resumedAt + recoveredWithinMs);
    const firstOk = samples.filter((s) => ok(s) && s.startedAt >= resumedAt).sort((a, b) => a.endedAt - b.endedAt)[0];
    const used = await settleUsed(cluster, 10_000);
    figures('stalled server', {
      requests: samples.length,
      outcomes: tally(samples),
      whileStalled: tally(stalled),
      firstOkAfterResumeMs: firstOk ? firstOk.endedAt - resumedAt : NaN,
      tail: tally(tail),
      usedAfterLoad: used,
    });

    assert.deepEqual(
      samples.filter((s) => !answered(s)).map((s) => s.error ?? `${s.status} ${s.body}`),
      [],
      'only 200 or 503 + Retry-After, never a hang',
    );
    assert.ok(
      stalled.length > 0 && stalled.every((s) => s.status === 503),
      `while stalled: ${JSON.stringify(tally(stalled))}`,
    );
    assert.ok(firstOk, 'a 200 after SIGCONT');
    assert.ok(
      tail.length > 0 && tail.every(ok),
      `recovered fully: ${JSON.stringify(tally(tail))}\n${describeFailures(tail.filter((s) => !ok(s)))}`,
    );
    assert.equal(used, 0, 'no connection stays counted as used after the load');
  });
});

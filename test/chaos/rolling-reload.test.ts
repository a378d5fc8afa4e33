import { strict as assert } from 'node:assert';
import type { LogLine } from '../../harness/cluster-process.js';
import { closedLoop, percentile, probe, Stopper, type Sample } from '../../harness/traffic.js';
import { waitUntil } from '../../harness/wait-until.js';
import {
  answeredBy,
  describeFailures,
  figures,
  lines,
  ok,
  signUp,
  timeOf,
  clusterOnThrowawayMariadb,
} from './chaos-fixtures.js';

/*
 * Rolling reload under load: SIGHUP while 24 keep-alive clients loop on /api/me and 8 clients open a new
 * connection per request (/healthz and /api/me). The primary replaces one slot at a time, the new worker ready
 * before the old one drains: not one request fails, and afterwards no old pid serves.
 */

describe('chaos: rolling reload (SIGHUP) under load', function () {
  this.timeout(60_000);

  const stack = clusterOnThrowawayMariadb({ WORKERS: '2' });

  it('fails no request and replaces every worker', async () => {
    const c = stack.cluster;
    const { auth } = await signUp(c.url, 'chaos-reload');
    const before = c.readyWorkerPids().sort();
    assert.equal(before.length, 2);
    const stopper = new Stopper();
    // Clients answered so far, and since the reload finished (plus the margin below), by load and client.
    let finishedAt = Number.POSITIVE_INFINITY;
    const answered = new Set<string>();
    const answeredAfter = new Set<string>();
    const watch = (load: string) => (s: Sample) => {
      if (ok(s)) answered.add(`${load}#${s.client}`);
      if (ok(s) && s.startedAt > finishedAt + 200) answeredAfter.add(`${load}#${s.client}`);
    };
    const common = { baseUrl: c.url, durationMs: 60_000, maxRequestsPerClient: 100_000, timeoutMs: 5000, stopper };
    const loads = [
      closedLoop({ ...common, clients: 24, next: () => ({ path: '/api/me', headers: auth }), onSample: watch('me') }),
      closedLoop({
        ...common,
        clients: 8,
        keepAlive: false,
        next: (n, i) => ({ path: (n + i) % 2 ? '/healthz' : '/api/me', headers: auth }),
        onSample: watch('new'),
      }),
    ];
    const scrapes = probe(
      `http://127.0.0.1:${c.metricsPort}`,
      { path: '/metrics' },
      { intervalMs: 250, maxMs: 60_000, stopper, timeoutMs: 3000 },
    );
    let hupAt = 0;
    let finished: LogLine | undefined;
    const mark = c.logs.length;
    try {
      // Every client is being served when the reload starts, and is served again after it.
      await waitUntil(() => answered.size === 32, { what: 'every client answered', timeoutMs: 20_000 });
      hupAt = Date.now();
      c.child.kill('SIGHUP');
      finished = await c.waitForLog((l) => l.msg === 'rolling reload finished', 30_000, mark);
      finishedAt = timeOf(finished);
      await waitUntil(() => answeredAfter.size === 32, {
        what: 'every client answered after the reload',
        timeoutMs: 20_000,
      });
    } finally {
      stopper.stop();
    }
    const samples = (await Promise.all(loads)).flat();
    const scraped = await scrapes;

    const after = c.readyWorkerPids().sort();
    const reloadMs = timeOf(finished) - hupAt;
    const during = samples.filter((s) => s.endedAt >= hupAt && s.startedAt <= timeOf(finished));
    const duringMe = during.filter((s) => s.path === '/api/me' && ok(s)).map((s) => s.ms);
    const beforeMe = samples.filter((s) => s.endedAt < hupAt && s.path === '/api/me' && ok(s)).map((s) => s.ms);
    const pidOf = await answeredBy(c, samples);
    const servedByNew = samples.filter(
      (s) => s.startedAt > timeOf(finished) + 200 && after.includes(pidOf.get(s.requestId) ?? -1),
    ).length;
    const readies = lines(c, 'worker ready', mark);
    const exits = lines(c, 'worker exited', mark);
    const failures = samples.filter((s) => !ok(s));

    figures('rolling reload', {
      requests: samples.length,
      duringReload: during.length,
      failed: failures.length,
      reloadMs,
      slotReadyMs: readies.map((l) => timeOf(l) - hupAt),
      oldExitedMs: exits.map((l) => timeOf(l) - hupAt),
      meP99BeforeMs: percentile(beforeMe, 99),
      meP99DuringMs: percentile(duringMe, 99),
      meMaxDuringMs: Math.max(...duringMe),
      metricsMaxMs: Math.max(...scraped.map((s) => s.ms)),
      scrapeMisses: lines(c, 'worker did not answer the metrics scrape', mark).length,
      afterReloadServedByNew: servedByNew,
    });

    assert.deepEqual(
      failures.map((s) => s.error ?? s.status),
      [],
      describeFailures(failures),
    );
    assert.ok(during.length > 0, 'no request during the reload');
    assert.equal(after.length, 2);
    assert.deepEqual(
      after.filter((pid) => before.includes(pid)),
      [],
      `old ${before} new ${after}: every worker replaced`,
    );
    assert.deepEqual(
      exits.map((l) => [l['code'], before.includes(Number(l['workerPid']))]),
      [
        [0, true],
        [0, true],
      ],
      'old workers drained and exited 0',
    );
    assert.deepEqual(lines(c, 'worker died; restarting', mark), []);
    assert.deepEqual(
      lines(c, 'reload aborted: the new worker did not become ready; the old one keeps serving', mark),
      [],
    );
    // After the reload only new workers answer: every client was answered since (the load ran until then), by them.
    assert.ok(servedByNew >= 32, `${servedByNew} requests answered by new workers after the reload`);
    assert.ok(
      samples
        .filter((s) => s.startedAt > timeOf(finished) + 200)
        .every((s) => after.includes(pidOf.get(s.requestId) ?? -1)),
    );
    // /metrics answered throughout (starting and draining workers answer its requests; an old worker that exits in the
    // middle of a scrape is counted as missing from that one, which the figures report with the slowest scrape).
    assert.deepEqual(
      scraped.filter((s) => !ok(s)).map((s) => s.error ?? s.status),
      [],
    );
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultRunbookBase, type PackageInfo } from '../../prometheus/runbook-urls.js';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { repoRoot } from '../../harness/repo-root.js';
import {
  startPrometheus,
  testPrometheusConfig,
  type PromAlert,
  type PrometheusServer,
} from '../helpers/prometheus-server.js';
import { scrape } from '../../harness/scrape.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';

/*
 * End to end: real pool exhaustion (1 connection per worker, slow queries, more concurrent requests
 * than connections) in a real cluster, scraped by a real Prometheus running the shipped alert rules, makes
 * DbPoolExhausted go pending and then fire, with the labels and annotations on-call gets, and clear again.
 * Only the rules' `for:` durations are shortened in the test copy (minutes would not fit in a test).
 */

const forInTest = '3s';

describe('DbPoolExhausted end to end (real cluster, real Prometheus, the shipped rules)', function () {
  this.timeout(90_000);
  let mariadb: ThrowawayMariadb | undefined;
  let cluster: ClusterProcess | undefined;
  let prometheus: PrometheusServer | undefined;
  let rulesDir: string | undefined;
  let instance = '';

  before(async function () {
    this.timeout(60_000);
    rulesDir = mkdtempSync(join(tmpdir(), 'test-prometheus-rules-'));
    for (const file of readdirSync(resolve(repoRoot, 'prometheus/rules')).filter((name) => name.endsWith('.yml'))) {
      const shipped = readFileSync(resolve(repoRoot, 'prometheus/rules', file), 'utf8');
      const copy = shipped.replace(/^([ \t]+for:[ \t]*)\S+[ \t]*$/gm, `$1${forInTest}`);
      const changed = shipped.split('\n').filter((line, i) => line !== copy.split('\n')[i]);
      assert.ok(
        changed.every((line) => /^\s+for:/.test(line)),
        `only for: lines may differ in the test copy of ${file}`,
      );
      writeFileSync(join(rulesDir, file), copy);
    }
    mariadb = await startThrowawayMariadb({ maxConnections: 40 });
    // DB_POOL_MAX 1: one connection per worker. A generous deadline, so requests queue instead of failing.
    cluster = await startCluster({
      WORKERS: '2',
      DATABASE_URL: mariadb.url,
      DB_POOL_MAX: '1',
      DB_RESERVED_CONNECTIONS: '5',
      DB_ACQUIRE_TIMEOUT_MS: '20000',
    });
    instance = `127.0.0.1:${cluster.metricsPort}`;
    const ruleFiles = [join(rulesDir, '*.yml')];
    prometheus = await startPrometheus({
      configYaml: (self) =>
        testPrometheusConfig({ targets: { app: instance, prometheus: `${self.host}:${self.port}` }, ruleFiles }),
    });
    for (let waited = 0; (await prometheus.query('up{job="app"} == 1')).length === 0; waited += 250) {
      assert.ok(waited < 15_000, `the app was never scraped\n${prometheus.logTail()}`);
      await sleep(250);
    }
  });

  after(async () => {
    await prometheus?.stop();
    await cluster?.stop();
    await mariadb?.destroy();
    if (rulesDir) rmSync(rulesDir, { recursive: true, force: true });
  });

  const exhausted = async (): Promise<PromAlert[]> =>
    (await prometheus!.alerts()).filter((a) => a.labels['alertname'] === 'DbPoolExhausted');

  it('goes pending, then firing for the exhausted worker, and clears once the load stops', async () => {
    assert.deepEqual(await exhausted(), [], 'no exhaustion before the load');
    const perWorker = (await scrape(`http://${instance}/metrics`))
      .series('db_client_connection_max')
      .map((s) => s.value);
    assert.deepEqual(perWorker, [1, 1], 'one connection per worker');

    // 6 clients, each sending 1 s queries back to back over its own keep-alive connection, against 2
    // connections in total: every worker's connection is busy and requests queue behind it.
    let loading = true;
    const statuses: number[] = [];
    const lanes = Array.from({ length: 6 }, async () => {
      for (let i = 0; loading && i < 60; i++)
        statuses.push((await request(`${cluster!.url}/test/db-sleep?seconds=1`)).status);
    });

    const seen: { state: string; at: number }[] = [];
    const started = Date.now();
    let firing: PromAlert | undefined;
    try {
      while (!firing) {
        assert.ok(
          Date.now() - started < 30_000,
          `DbPoolExhausted did not fire within 30 s; seen: ${JSON.stringify(seen)}\n${prometheus!.logTail()}`,
        );
        const alerts = await exhausted();
        for (const alert of alerts) seen.push({ state: alert.state, at: Date.now() - started });
        firing = alerts.find((a) => a.state === 'firing');
        if (!firing) await sleep(250);
      }
    } finally {
      loading = false;
    }
    const pendingAt = seen.find((s) => s.state === 'pending')?.at;
    const firingAt = seen.find((s) => s.state === 'firing')!.at;
    console.log(
      `      pending after ${pendingAt} ms, firing after ${firingAt} ms (for: ${forInTest} in the test copy)`,
    );
    assert.ok(pendingAt !== undefined && pendingAt < firingAt, 'pending before firing (for: is honoured)');

    assert.equal(firing.labels['severity'], 'critical');
    assert.equal(firing.labels['job'], 'app');
    assert.equal(firing.labels['instance'], instance);
    assert.equal(firing.labels['db_client_connection_pool_name'], 'primary');
    assert.ok(['0', '1'].includes(firing.labels['worker'] ?? ''), `worker label: ${firing.labels['worker']}`);
    assert.ok(Number(firing.value) >= 1, `value = requests waiting: ${firing.value}`);
    const { summary = '', description = '', runbook_url: runbook } = firing.annotations;
    assert.match(summary, new RegExp(`worker ${firing.labels['worker']} on ${instance.replace(/\./g, '\\.')}`));
    assert.match(description, /requests are waiting/);
    const pkg = JSON.parse(readFileSync(resolve(repoRoot, 'package.json'), 'utf8')) as PackageInfo;
    assert.equal(
      runbook,
      `${defaultRunbookBase(pkg)}#dbpoolexhausted`,
      'an absolute link Alertmanager and Grafana can follow',
    );

    await Promise.all(lanes);
    assert.ok(
      statuses.every((status) => status === 200),
      `requests queued and succeeded: ${statuses.join()}`,
    );
    for (let waited = 0; (await exhausted()).length > 0; waited += 250) {
      assert.ok(waited < 15_000, 'DbPoolExhausted did not clear after the load stopped');
      await sleep(250);
    }
  });
});

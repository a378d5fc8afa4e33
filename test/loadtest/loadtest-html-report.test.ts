import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type BrowserContext } from 'playwright-core';
import type { Result } from '../../loadtest/report/summary.js';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { request } from '../../harness/http-client.js';
import { freshDatabase, testConnection, testDatabaseUrl } from '../../harness/test-database.js';

/*
 * `--report result.html` after a short real run against a real cluster, opened in headless Chromium (the
 * Debian package, which scripts/ensure-test-services.sh installs): every chart drew its series, nothing was
 * fetched but the file itself, nothing logged a console error. Set LOADTEST_REPORT_SCREENSHOT=docs/loadtest-report.png
 * to refresh the load-testing page's screenshot (docs/load-testing.md) from this run.
 */

const cli = resolve(__dirname, '../../loadtest/cli/loadtest.js');
const chromiumPath = '/usr/bin/chromium';
const database = 'app_test_loadtest_report';

interface ChartInfo {
  readonly title: string;
  readonly series: { readonly label: string; readonly points: number }[];
  /** Canvas pixels that are not transparent: the chart really drew. */
  readonly paintedPixels: number;
}

describe('npm run loadtest -- --report (the HTML report in headless Chromium)', function () {
  this.timeout(90_000);
  let cluster: ClusterProcess;
  let dir: string;
  let context: BrowserContext | undefined;

  before(async () => {
    if (!existsSync(chromiumPath))
      throw new Error(`${chromiumPath} missing: apt-get install -y chromium (scripts/ensure-test-services.sh does)`);
    dir = mkdtempSync(join(tmpdir(), 'loadtest-report-'));
    const admin = await freshDatabase(testConnection(database));
    await admin.end();
    cluster = await startCluster({ WORKERS: '2', DATABASE_URL: testDatabaseUrl(database) });
    const users = [0, 1].map((i) => ({ email: `report${i}@loadtest.example`, password: `report-password-${i}` }));
    for (const user of users) {
      const created = await request(`${cluster.url}/api/users`, { method: 'POST', json: { ...user, name: 'Report' } });
      assert.equal(created.status, 201, created.text);
    }
    writeFileSync(join(dir, 'credentials.json'), JSON.stringify(users));
  });
  after(async () => {
    await context?.close();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes one self-contained HTML file whose charts all render with data, without a fetch or a console error', async () => {
    const report = join(dir, 'result.html');
    const out = join(dir, 'result.json');
    // Not spawnSync: the cluster's logs come through a pipe this process must keep reading, or its workers block
    // on the full pipe and the run would record a stalled server.
    const run = await promisify(execFile)(
      process.execPath,
      [
        cli,
        ...[
          '--scenario',
          'mixed',
          '--connections',
          '4',
          '--duration',
          '4s',
          '--threshold-p95-ms',
          '60000',
          '--min-success',
          '0',
          '--metrics-port',
          '0',
        ],
        ...[
          '--url',
          cluster.url,
          '--metrics-url',
          `http://127.0.0.1:${cluster.metricsPort}/metrics`,
          '--credentials',
          join(dir, 'credentials.json'),
        ],
        ...['--report', report, '--out', out],
      ],
      { encoding: 'utf8', timeout: 40_000 },
    ).catch((error: { code?: number; stdout?: string; stderr?: string }) =>
      assert.fail(`exit ${error.code}: ${error.stdout}\n${error.stderr}`),
    );
    assert.match(run.stdout, new RegExp(`report written to ${report.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const result = JSON.parse(readFileSync(out, 'utf8')) as Result;
    const html = readFileSync(report, 'utf8');
    // Self-contained: no URL the browser could fetch (src/href to http, a stylesheet link, an import).
    assert.doesNotMatch(html, /<(script|img|iframe)[^>]+\ssrc=|<link[^>]+href=|@import|\bfetch\(/i);
    // The per-second series are in the JSON too: one sample a second, the server's from its /metrics.
    assert.ok(result.timeSeries.t.length >= 3, JSON.stringify(result.timeSeries.t));
    const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
    assert.equal(result.timeSeries.requests.length, result.timeSeries.t.length);
    assert.equal(sum(result.timeSeries.requests), result.totalRequests);
    assert.equal(sum(result.timeSeries.errors), result.failedRequests);
    assert.equal(sum(Object.values(result.timeSeries.statuses).map(sum)), result.totalRequests);
    assert.ok(result.timeSeries.server.t.length >= 2, JSON.stringify(result.timeSeries.server));

    context = await chromium.launchPersistentContext(mkdtempSync(join(dir, 'chromium-profile-')), {
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
    });
    const fileUrl = pathToFileURL(report).href;
    const requested: string[] = [];
    const problems: string[] = [];
    context.on('request', (r) => void requested.push(r.url()));
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning')
        problems.push(`console.${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => void problems.push(`page error: ${error.message}`));
    await page.goto(fileUrl, { waitUntil: 'load' });
    await page.waitForFunction('window.loadtestReport && window.loadtestReport.rendered === true', undefined, {
      timeout: 15_000,
    });
    const charts = (await page.evaluate(`window.loadtestReport.charts.map((chart) => {
      const canvas = document.querySelector('#' + chart.id + ' canvas');
      const pixels = canvas ? canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data : [];
      let painted = 0;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
      return { title: chart.title, series: chart.series, paintedPixels: painted };
    })`)) as ChartInfo[];

    const titles = charts.map((c) => c.title);
    assert.deepEqual(titles, [
      'Requests and errors per second',
      'Latency (ms)',
      'Status mix per second',
      'Pool connections (all workers)',
      'MySQL Threads_connected vs budget',
    ]);
    for (const chart of charts) {
      assert.ok(chart.series.length > 0, `${chart.title}: no series`);
      for (const series of chart.series) assert.ok(series.points > 0, `${chart.title}: ${series.label} has no points`);
      assert.ok(chart.paintedPixels > 0, `${chart.title}: nothing drawn`);
    }
    const labels = (title: string) => charts.find((c) => c.title === title)!.series.map((s) => s.label);
    assert.deepEqual(labels('Requests and errors per second'), ['requests/s', 'errors/s']);
    assert.deepEqual(labels('Latency (ms)'), ['p50', 'p95', 'p99']);
    assert.ok(labels('Status mix per second').includes('200'), labels('Status mix per second').join());
    assert.deepEqual(labels('Pool connections (all workers)'), ['used', 'max', 'pending']);
    assert.deepEqual(labels('MySQL Threads_connected vs budget'), ['Threads_connected', 'budget']);
    // The page's summary carries the run's figures.
    // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Page#innerText (the rendered text), not the DOM property.
    const text = await page.innerText('body');
    assert.match(text, new RegExp(`${result.totalRequests}\\s+requests`));

    const screenshot = join(dir, 'report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    const png = readFileSync(screenshot);
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.ok(png.length > 10_000, `screenshot is ${png.length} bytes`);
    if (process.env['LOADTEST_REPORT_SCREENSHOT'])
      copyFileSync(screenshot, resolve(process.env['LOADTEST_REPORT_SCREENSHOT']));

    assert.deepEqual(problems, []);
    assert.deepEqual(requested, [fileUrl], 'the report fetched something besides itself');
  });
});

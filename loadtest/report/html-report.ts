import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Result } from './summary.js';

/**
 * `--report result.html`: one file that needs no network to view, like k6's web-dashboard export. uPlot
 * (minified), its stylesheet, the page's script and the run's data are all inlined; the Content-Security-Policy
 * forbids every fetch, so a stray URL fails loudly instead of quietly phoning out.
 */

const assets = resolve(__dirname, '../../../loadtest/report/html');

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** Inline <script>/<style> content ends at the first "</script" or "</style", whatever JS quoting says. */
const inline = (text: string) => text.replace(/<\/(script|style)/gi, '<\\/$1');

function card(value: string, label: string): string {
  return `<div class="card"><div class="value">${escapeHtml(value)}</div><div class="label">${escapeHtml(label)}</div></div>`;
}

function rowsOf(cells: readonly (readonly string[])[]): string {
  return cells
    .map(
      (row, i) =>
        `<tr>${row.map((cell) => (i === 0 ? `<th>${escapeHtml(cell)}</th>` : `<td>${escapeHtml(cell)}</td>`)).join('')}</tr>`,
    )
    .join('');
}

function latencyTable(result: Result): string {
  const fixed = (v: number) => v.toFixed(2);
  const row = (name: string, count: number, success: number, l: Result['latencyMs']) => [
    name,
    String(count),
    `${(success * 100).toFixed(2)} %`,
    ...[l.p50, l.p95, l.p99, l.max].map(fixed),
  ];
  return rowsOf([
    ['request', 'count', 'success', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
    ...Object.entries(result.byName).map(([name, s]) => row(name, s.requests, s.successRate, s.latencyMs)),
    row('all', result.totalRequests, result.successRate, result.latencyMs),
  ]);
}

function thresholdRows(result: Result): string {
  return result.thresholds
    .map(
      (t) =>
        `<tr><td>${escapeHtml(t.name)}</td><td>${t.actual ?? 'n/a'}</td><td>${t.limit}</td><td class="${t.ok ? 'pass' : 'fail'}">${t.ok ? 'PASS' : 'FAIL'}</td></tr>`,
    )
    .join('');
}

export function renderHtmlReport(result: Result): string {
  const uplotJs = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  const pageJs = readFileSync(resolve(assets, 'report-page.js'), 'utf8');
  const pageCss = readFileSync(resolve(assets, 'report.css'), 'utf8');
  // JSON inside <script type="application/json">: escaping "<" keeps "</script>" in a string from ending it.
  const data = JSON.stringify(result).replace(/</g, '\\u003c');
  const s = result.server;
  const model = result.model === 'open' ? `open model, ${result.rate} iterations/s` : 'closed model';
  const title = `Load test ${result.runId}: ${result.scenario}`;
  const statusRows = rowsOf([
    ['status', 'count'],
    ...Object.entries(result.statusCounts).map(([key, n]) => [key, String(n)]),
  ]);
  const errors = [
    ...Object.entries(result.errors).filter(([, n]) => n > 0),
    ...Object.entries(result.errorDetails).map(([key, n]) => [`detail: ${key}`, n] as const),
  ];
  const errorRows = rowsOf([
    ['error', 'count'],
    ...(errors.length === 0 ? [['none', '0']] : errors.map(([key, n]) => [key, String(n)])),
  ]);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${inline(uplotCss)}</style>
<style>${inline(pageCss)}</style>
</head>
<body>
<h1>${escapeHtml(title)} <span class="verdict ${result.passed ? 'passed' : 'failed'}">${result.passed ? 'PASSED' : 'FAILED'}</span></h1>
<p class="meta">run id ${escapeHtml(result.runId)} · started ${escapeHtml(result.startedAt)} · ${result.elapsedSeconds.toFixed(1)} s (stopped by ${result.stoppedBy}) · ${result.connections} connections, ${escapeHtml(model)} · ${escapeHtml(result.url)}</p>
<div class="cards">
${card(String(result.totalRequests), 'requests')}
${card(String(result.requestsPerSecond), 'requests/s')}
${card(`${(result.successRate * 100).toFixed(2)} %`, 'success')}
${card(String(result.failedRequests), 'errors')}
${card(`${result.latencyMs.p50} ms`, 'p50')}
${card(`${result.latencyMs.p95} ms`, 'p95')}
${card(`${result.latencyMs.p99} ms`, 'p99')}
${card(`${s.peakPoolUsed} / ${s.poolMax ?? '?'}`, 'pool used peak / max')}
${card(`${s.peakThreadsConnected ?? '?'} / ${s.budgetConnections ?? '?'}`, 'Threads_connected peak / budget')}
</div>
<div id="chart-rate" class="chart"></div>
<div id="chart-latency" class="chart"></div>
<div id="chart-status" class="chart"></div>
<div id="chart-pool" class="chart"></div>
<div id="chart-mysql" class="chart"></div>
<div class="tables">
<div><h2>Requests</h2><table>${latencyTable(result)}</table></div>
<div><h2>Thresholds</h2><table><tr><th>threshold</th><th>actual</th><th>limit</th><th></th></tr>${thresholdRows(result)}</table></div>
<div><h2>Status mix</h2><table>${statusRows}</table></div>
<div><h2>Errors</h2><table>${errorRows}</table></div>
</div>
<p class="meta">server figures from ${escapeHtml(s.metricsUrl)}: ${s.scrapes} scrapes, ${s.scrapeFailures} failed${s.lastScrapeError ? ` (last error ${escapeHtml(s.lastScrapeError)})` : ''} · pending peak ${s.peakPoolPending} · iterations ${result.iterations}, dropped ${result.droppedIterations}</p>
<script type="application/json" id="loadtest-data">${data}</script>
<script>${inline(uplotJs)}</script>
<script>${inline(pageJs)}</script>
</body>
</html>
`;
}

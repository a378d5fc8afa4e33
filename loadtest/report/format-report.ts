import type { Result } from './summary.js';

/** The end-of-run report, as plain text tables. */

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: readonly string[]) =>
    `| ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

const counts = (record: Record<string, number>) =>
  Object.entries(record)
    .filter(([, n]) => n > 0)
    .map(([key, n]) => `${key}: ${n}`)
    .join(', ') || 'none';

export function formatReport(result: Result): string {
  const header = ['request', 'count', 'success', 'p50 ms', 'p90 ms', 'p95 ms', 'p99 ms', 'max ms'];
  const row = (name: string, count: number, success: number, l: Result['latencyMs']) => [
    name,
    String(count),
    `${(success * 100).toFixed(2)}%`,
    ...[l.p50, l.p90, l.p95, l.p99, l.max].map((v) => v.toFixed(2)),
  ];
  const rows = [
    header,
    ...Object.entries(result.byName).map(([name, s]) => row(name, s.requests, s.successRate, s.latencyMs)),
    row('all', result.totalRequests, result.successRate, result.latencyMs),
  ];
  const s = result.server;
  const model = result.model === 'open' ? `open model, ${result.rate} iterations/s` : 'closed model';
  return [
    '',
    `scenario ${result.scenario}, ${result.connections} connections, ${model}, ${result.elapsedSeconds.toFixed(1)} s (stopped by ${result.stoppedBy}) against ${result.url}`,
    table(rows),
    `requests/s: ${result.requestsPerSecond}   iterations: ${result.iterations}   dropped iterations: ${result.droppedIterations}   interrupted at the end: ${result.interruptedRequests}`,
    `status codes: ${counts(result.statusCounts)}`,
    `errors: ${counts(result.errors)}${Object.keys(result.errorDetails).length > 0 ? `   (details: ${counts(result.errorDetails)})` : ''}`,
    `client: peak open connections ${result.peakOpenConnections}, connect errors ${result.connectErrors}`,
    s.scrapes > 0
      ? `server: pool used peak ${s.peakPoolUsed}/${s.poolMax ?? '?'}, pending peak ${s.peakPoolPending}, MySQL threads_connected peak ${s.peakThreadsConnected ?? '?'}, budget ${s.budgetConnections ?? '?'} (${s.scrapes} scrapes, ${s.scrapeFailures} failed)`
      : `server: no metrics from ${s.metricsUrl} (${s.lastScrapeError ?? 'not scraped'})`,
    'thresholds:',
    ...result.thresholds.map(
      (t) =>
        `  ${t.ok ? 'PASS' : 'FAIL'}  ${t.name}: ${t.actual ?? 'n/a'} (${t.name.startsWith('success') ? 'min' : 'max'} ${t.limit})`,
    ),
    result.passed ? 'PASSED' : 'FAILED',
  ].join('\n');
}

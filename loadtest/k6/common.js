// Shared by login.js and me-arrival-rate.js (imported, not run). It sits beside them, so the relative paths its
// open() calls take mean the same file whether k6 resolves them from this module or from the script that ran it.
import { SharedArray } from 'k6/data';

/** The users `npm run seed` wrote (CREDENTIALS, relative to loadtest/k6/), loaded once and shared by every VU. */
export function seededUsers() {
  return new SharedArray('users', function () {
    const path = __ENV.CREDENTIALS || '../credentials.json';
    let list;
    try {
      list = JSON.parse(open(path));
    } catch (error) {
      throw new Error(`cannot read ${path} (${error}): run \`npm run seed -- --users N\` first`);
    }
    if (!Array.isArray(list) || list.length === 0) throw new Error(`${path} has no users: run \`npm run seed -- --users N\` first`);
    return list;
  });
}

/** handleSummary's console text: each threshold's verdict, dropped iterations (arrival-rate runs) and request totals. */
export function brief(data, testId, baseUrl) {
  const lines = [`k6 ${testId}: ${baseUrl}`];
  Object.keys(data.metrics).forEach(function (name) {
    const metric = data.metrics[name];
    if (!metric.thresholds) return;
    Object.keys(metric.thresholds).forEach(function (threshold) {
      const value = metric.values['p(95)'] !== undefined ? metric.values['p(95)'] : metric.values.rate;
      lines.push(`  ${metric.thresholds[threshold].ok ? 'PASS' : 'FAIL'}  ${name} ${threshold} (${value})`);
    });
  });
  if (data.metrics.dropped_iterations) lines.push(`  dropped iterations: ${data.metrics.dropped_iterations.values.count}`);
  if (data.metrics.http_reqs) lines.push(`  requests: ${data.metrics.http_reqs.values.count} (${data.metrics.http_reqs.values.rate.toFixed(1)}/s)`);
  return `${lines.join('\n')}\n`;
}

// @ts-check
// Shared by login.js and me-arrival-rate.js (imported, not run). It sits beside them, so the relative paths its
// open() calls take mean the same file whether k6 resolves them from this module or from the script that ran it.
import { SharedArray } from 'k6/data';
// k6's own summary; k6 downloads this module from jslib.k6.io when the script starts (vendor it for offline runs).
import { textSummary } from 'https://jslib.k6.io/k6-summary/0.1.0/index.js';

/** @typedef {{ email: string, password: string }} User */

/**
 * The users `npm run seed` wrote (CREDENTIALS, relative to loadtest/k6/), loaded once and shared by every VU.
 * @returns {User[]}
 */
export function seededUsers() {
  return new SharedArray('users', () => {
    const path = __ENV.CREDENTIALS || '../credentials.json';
    let list;
    try {
      list = JSON.parse(open(path));
    } catch (error) {
      throw new Error(`cannot read ${path} (${error}): run \`npm run seed -- --users N\` first`);
    }
    if (!Array.isArray(list) || list.length === 0)
      throw new Error(`${path} has no users: run \`npm run seed -- --users N\` first`);
    return list;
  });
}

/**
 * handleSummary's console text: each threshold's verdict, dropped iterations (arrival-rate runs) and request totals.
 * @param {SummaryData} data
 * @param {string} testId
 * @param {string} baseUrl
 */
export function brief(data, testId, baseUrl) {
  const lines = [`k6 ${testId}: ${baseUrl}`];
  Object.keys(data.metrics).forEach((name) => {
    const metric = data.metrics[name];
    const thresholds = metric.thresholds;
    if (!thresholds) return;
    Object.keys(thresholds).forEach((threshold) => {
      const value = metric.values['p(95)'] !== undefined ? metric.values['p(95)'] : metric.values.rate;
      lines.push(`  ${thresholds[threshold].ok ? 'PASS' : 'FAIL'}  ${name} ${threshold} (${value})`);
    });
  });
  if (data.metrics.dropped_iterations)
    lines.push(`  dropped iterations: ${data.metrics.dropped_iterations.values.count}`);
  if (data.metrics.http_reqs)
    lines.push(
      `  requests: ${data.metrics.http_reqs.values.count} (${data.metrics.http_reqs.values.rate.toFixed(1)}/s)`,
    );
  return `${lines.join('\n')}\n`;
}

/**
 * What handleSummary returns: k6's standard end-of-test summary (which a handleSummary replaces unless it
 * prints it itself) followed by ours on stdout, and the whole summary as JSON in a file.
 * @param {SummaryData} data
 * @param {string} testId
 * @param {string} baseUrl
 * @param {string} jsonPath
 * @returns {Record<string, string>}
 */
export function summaryOutputs(data, testId, baseUrl, jsonPath) {
  return {
    stdout: `${textSummary(data, { indent: ' ', enableColors: true })}\n\n${brief(data, testId, baseUrl)}`,
    [jsonPath]: JSON.stringify(data, null, 2),
  };
}

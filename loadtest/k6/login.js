// @ts-check
// The original acceptance test: virtual users ramping to 1,000+, each logging in with a seeded user,
// calling GET /api/me a few times and logging out, with think time. Pass: login success > 99%,
// http_req_duration{name:login} p95 < 2000 ms, tighter limits for /api/me and logout.
//
// Scenario, stages and thresholds come from ../scenarios.json, the file the Node tester (npm run loadtest) reads:
// test/loadtest/k6-scripts.test.ts keeps this script in step with it.
//
//   npm run seed -- --users 10000                    # writes loadtest/credentials.json
//   k6 run loadtest/k6/login.js                       # BASE_URL defaults to http://127.0.0.1:8080
//   k6 run -o experimental-prometheus-rw -e TESTID=run-42 -e BASE_URL=http://app:8080 loadtest/k6/login.js
//
// Environment: BASE_URL, TESTID (tag testid on every series, for remote write), CREDENTIALS (path relative to
// this file), SUMMARY_PATH (where handleSummary writes the JSON summary; default k6-login-summary.json).
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Rate } from 'k6/metrics';
import { seededUsers, summaryOutputs } from './common.js';

const spec = JSON.parse(open('../scenarios.json'));
const flow = spec.scenarios.login;
const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TESTID = __ENV.TESTID || 'k6-login';

const users = seededUsers();

const loginSuccess = new Rate('login_success');

/**
 * The flow's requests in order, repeats expanded: ['login', 'me', 'me', 'me', 'logout'].
 * @param {{ request: string, repeat?: number }[]} steps
 */
function expandSteps(steps) {
  /** @type {string[]} */
  const names = [];
  steps.forEach((step) => {
    for (let i = 0; i < (step.repeat || 1); i++) names.push(step.request);
  });
  return names;
}

/**
 * @param {{ loginSuccessRate: number, p95Ms: Record<string, number> }} thresholds
 * @returns {NonNullable<import('k6/options').Options['thresholds']>}
 */
function thresholdsFrom(thresholds) {
  /** @type {NonNullable<import('k6/options').Options['thresholds']>} */
  const result = { login_success: [`rate>${thresholds.loginSuccessRate}`] };
  Object.keys(thresholds.p95Ms).forEach((name) => {
    result[`http_req_duration{name:${name}}`] = [`p(95)<${thresholds.p95Ms[name]}`];
  });
  return result;
}

const steps = expandSteps(flow.steps);

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    login: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: spec.k6.login.stages,
      gracefulRampDown: spec.k6.login.gracefulRampDown,
    },
  },
  thresholds: thresholdsFrom(spec.thresholds),
  tags: { testid: TESTID },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

// Only the statuses the scenario expects count as successful in http_req_failed (401, 429, 503 do not).
/** @type {number[]} */
const expectedStatuses = [];
Object.keys(spec.requests).forEach((name) => {
  if (expectedStatuses.indexOf(spec.requests[name].expectStatus) < 0)
    expectedStatuses.push(spec.requests[name].expectStatus);
});
http.setResponseCallback(http.expectedStatuses(...expectedStatuses));

/**
 * @param {string} name
 * @param {import('./common.js').User} user
 * @param {string | null} token
 */
function send(name, user, token) {
  const request = spec.requests[name];
  /** @type {{ headers: Record<string, string>, tags: Record<string, string> }} */
  const params = { headers: {}, tags: { name: name } };
  let body = null;
  if (name === 'login') {
    body = JSON.stringify({ email: user.email, password: user.password });
    params.headers['Content-Type'] = 'application/json';
  }
  if (token) params.headers.Authorization = `Bearer ${token}`;
  return http.request(request.method, BASE_URL + request.path, body, params);
}

export default function () {
  const user = users[(__VU - 1) % users.length];
  /** @type {string | null} */
  let token = null;
  for (let i = 0; i < steps.length; i++) {
    const name = steps[i];
    const expected = spec.requests[name].expectStatus;
    const response = send(name, user, token);
    const ok = check(response, { [`${name} ${expected}`]: (r) => r.status === expected });
    if (name === 'login') {
      loginSuccess.add(ok);
      const value = ok ? response.json('token') : null;
      token = typeof value === 'string' ? value : null;
      if (!token) break; // no session: the rest of the flow would only measure 401s
    }
  }
  sleep(flow.thinkTimeMs / 1000);
}

/** @param {SummaryData} data */
export function handleSummary(data) {
  return summaryOutputs(data, TESTID, BASE_URL, __ENV.SUMMARY_PATH || 'k6-login-summary.json');
}

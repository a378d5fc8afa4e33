// @ts-check
// Open-model test of GET /api/me: requests arrive at a constant rate whatever the latency
// (k6 constant-arrival-rate), so a slow server shows as latency and dropped_iterations, not as a politely
// lower request rate. Sessions are logged in once, in setup(), like the Node tester's `me` scenario.
//
// Scenario, rate and thresholds come from ../scenarios.json (kept in step by test/loadtest/k6-scripts.test.ts).
//
//   npm run seed -- --users 10000
//   k6 run -e RATE=2000 -e DURATION=1m loadtest/k6/me-arrival-rate.js
//   k6 run -o experimental-prometheus-rw -e TESTID=me-rate-1 -e BASE_URL=http://app:8080 loadtest/k6/me-arrival-rate.js
//
// Environment: BASE_URL, TESTID, RATE (per second), DURATION, CREDENTIALS, SUMMARY_PATH
// (default k6-me-arrival-rate-summary.json).
import http from 'k6/http';
import { check, fail } from 'k6';
import { Rate } from 'k6/metrics';
import { seededUsers, summaryOutputs } from './common.js';

const spec = JSON.parse(open('../scenarios.json'));
const flow = spec.scenarios.me;
const arrival = spec.k6.meArrivalRate;
const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TESTID = __ENV.TESTID || 'k6-me-arrival-rate';

const users = seededUsers();

const meSuccess = new Rate('me_success');

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    me: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || arrival.rate),
      timeUnit: arrival.timeUnit,
      duration: __ENV.DURATION || arrival.duration,
      preAllocatedVUs: arrival.preAllocatedVUs,
      maxVUs: arrival.maxVUs,
    },
  },
  thresholds: {
    me_success: [`rate>${spec.thresholds.loginSuccessRate}`],
    'http_req_duration{name:me}': [`p(95)<${spec.thresholds.p95Ms.me}`],
  },
  tags: { testid: TESTID },
  setupTimeout: '5m',
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

http.setResponseCallback(http.expectedStatuses(spec.requests.me.expectStatus, spec.requests.login.expectStatus));

/** Logs in flow.sessions seeded users once; the virtual users share their tokens. */
export function setup() {
  const login = spec.requests.login;
  /** @type {string[]} */
  const tokens = [];
  const count = Math.min(flow.sessions, users.length);
  for (let i = 0; i < count; i++) {
    const body = JSON.stringify({ email: users[i].email, password: users[i].password });
    const response = http.request(login.method, BASE_URL + login.path, body, {
      headers: { 'Content-Type': 'application/json' },
      tags: { name: 'setup_login' },
    });
    const token = response.status === login.expectStatus ? response.json('token') : null;
    if (typeof token === 'string') tokens.push(token);
  }
  if (tokens.length === 0)
    fail(`no seeded user could log in at ${BASE_URL}${login.path}: seeded into this server's database?`);
  return { tokens: tokens };
}

/** @param {{ tokens: string[] }} data */
export default function (data) {
  const token = data.tokens[(__VU - 1) % data.tokens.length];
  const request = spec.requests.me;
  const response = http.request(request.method, BASE_URL + request.path, null, {
    headers: { Authorization: `Bearer ${token}` },
    tags: { name: 'me' },
  });
  meSuccess.add(check(response, { [`me ${request.expectStatus}`]: (r) => r.status === request.expectStatus }));
}

/** @param {SummaryData} data */
export function handleSummary(data) {
  return summaryOutputs(data, TESTID, BASE_URL, __ENV.SUMMARY_PATH || 'k6-me-arrival-rate-summary.json');
}

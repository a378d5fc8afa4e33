import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Dispatcher } from 'undici';
import { buildIteration } from '../../loadtest/engine/flows.js';
import { Recorder } from '../../loadtest/engine/recorder.js';
import { Requester } from '../../loadtest/engine/requester.js';
import { expandSteps, loadScenarioFile, type ScenarioName } from '../../loadtest/engine/scenario-spec.js';
import type { Call, SandboxOutput } from './k6-sandbox.js';
import { repoRoot } from '../../harness/repo-root.js';

/*
 * k6 cannot be installed here. The scripts are checked as ES modules by Node's parser, then run in
 * a sandbox with k6's modules replaced by recorders (k6-sandbox.ts), and must do what loadtest/scenarios.json
 * says, which is also what the Node tester does.
 */

const k6Dir = resolve(repoRoot, 'loadtest/k6');
const scripts = ['login.js', 'me-arrival-rate.js'];
const spec = loadScenarioFile();
const users = [
  { email: 'user0@loadtest.example', password: 'first-password' },
  { email: 'user1@loadtest.example', password: 'second-password' },
  { email: 'user2@loadtest.example', password: 'third-password' },
];

function checkSyntax(source: string) {
  // --input-type=module: parse as an ES module whatever package.json says; --check: parse only, so the
  // k6/... imports need not resolve.
  return spawnSync(process.execPath, ['--input-type=module', '--check'], { input: source, encoding: 'utf8' });
}

function sandbox(script: string, env: Record<string, string>, credentials: typeof users | null = users) {
  const input = JSON.stringify({ script: resolve(k6Dir, script), env, ...(credentials ? { credentials } : {}) });
  const run = spawnSync(
    process.execPath,
    ['--experimental-vm-modules', '--no-warnings', resolve(__dirname, 'k6-sandbox.js'), input],
    { encoding: 'utf8', timeout: 20_000 },
  );
  return {
    status: run.status,
    stderr: run.stderr,
    output: run.status === 0 ? (JSON.parse(run.stdout) as SandboxOutput) : undefined,
  };
}

/** What the Node tester sends for one iteration of `scenario` (virtual user 0, one session from before the run). */
async function nodeTesterCalls(scenario: ScenarioName): Promise<Call[]> {
  const calls: Call[] = [];
  const client = {
    dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandlers) {
      const headers = options.headers as string[];
      calls.push({
        method: options.method,
        url: `http://127.0.0.1:8080${options.path}`,
        body: options.body ? String(options.body) : null,
        name: undefined,
        headers: Object.fromEntries([[headers[0]!, headers[1]!]]),
      });
      const status = options.path.endsWith('/logout') ? 204 : 200;
      handler.onHeaders?.(status, [], () => {}, '');
      handler.onData?.(Buffer.from(JSON.stringify({ token: `token-${calls.length}` })));
      handler.onComplete?.(null);
      return true;
    },
  } as unknown as Dispatcher;
  const names: string[] = [];
  const requester = new Requester(
    spec,
    1,
    '',
    new Recorder(),
    { observe: (name) => void names.push(name) },
    { stopped: false, frozen: false },
  );
  const iterate = buildIteration(scenario, {
    file: spec,
    requester,
    state: { stopped: false, frozen: false },
    credentials: users,
    sessions: [['authorization', 'Bearer token-1']],
  });
  const thinkMs = await iterate({ index: 0, slot: 0, client });
  assert.equal(thinkMs, spec.scenarios[scenario === 'mixed' ? 'me' : scenario].thinkTimeMs);
  // The names the report and the loadtest_* metrics use, in the order sent.
  return calls.map((call, i) => ({ ...call, name: names[i] }));
}

const shape = (calls: readonly Call[]) => calls.map((c) => `${c.method} ${new URL(c.url).pathname}`);

describe('k6 scripts', function () {
  this.timeout(30_000);

  for (const script of scripts) {
    it(`${script} is a valid ES module (node --input-type=module --check)`, () => {
      const source = readFileSync(resolve(k6Dir, script), 'utf8');
      const result = checkSyntax(source);
      assert.equal(result.status, 0, result.stderr);
      // The check does check: the same source with a syntax error is refused.
      assert.notEqual(checkSyntax(source.replace('export default function', 'export default function (')).status, 0);
    });
  }

  it('type-check against @types/k6 (tsc -p loadtest/k6/tsconfig.json), and a misspelled executor fails it', function () {
    this.timeout(120_000);
    const tsc = resolve(repoRoot, 'node_modules/typescript/bin/tsc');
    const check = (project: string) =>
      spawnSync(process.execPath, [tsc, '-p', project, '--noEmit'], { encoding: 'utf8', timeout: 100_000 });
    const real = check(resolve(k6Dir, 'tsconfig.json'));
    assert.equal(real.status, 0, `${real.stdout}${real.stderr}`);
    // The check does check: the same folder with a mistake k6 would only report when the test starts. The copy
    // sits under dist/ so that k6/... still resolves to the repository's node_modules/@types/k6.
    const copy = mkdtempSync(resolve(repoRoot, 'dist', 'k6-typecheck-'));
    try {
      for (const file of readdirSync(k6Dir)) copyFileSync(resolve(k6Dir, file), resolve(copy, file));
      const login = readFileSync(resolve(k6Dir, 'login.js'), 'utf8');
      assert.ok(login.includes("executor: 'ramping-vus'"));
      writeFileSync(resolve(copy, 'login.js'), login.replace("executor: 'ramping-vus'", "executor: 'ramping-users'"));
      const broken = check(resolve(copy, 'tsconfig.json'));
      assert.notEqual(broken.status, 0);
      assert.match(broken.stdout, /login\.js\(\d+,\d+\): error TS\d+/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('login.js: ramps to 1,000+ users with the thresholds of scenarios.json, tagged by name and testid', () => {
    const { output, stderr } = sandbox('login.js', { TESTID: 'run-42' });
    assert.ok(output, stderr);
    const scenario = (output.options['scenarios'] as Record<string, Record<string, unknown>>)['login']!;
    assert.equal(scenario['executor'], 'ramping-vus');
    const stages = scenario['stages'] as { duration: string; target: number }[];
    assert.deepEqual(stages, (spec.k6['login'] as { stages: unknown }).stages);
    assert.ok(Math.max(...stages.map((s) => s.target)) >= 1000, 'ramps to 1,000+ virtual users');
    const thresholds: Record<string, string[]> = { login_success: [`rate>${spec.thresholds.loginSuccessRate}`] };
    for (const [name, ms] of Object.entries(spec.thresholds.p95Ms))
      thresholds[`http_req_duration{name:${name}}`] = [`p(95)<${ms}`];
    assert.deepEqual(output.options['thresholds'], thresholds);
    assert.equal(spec.thresholds.p95Ms.login, 2000);
    assert.ok(spec.thresholds.p95Ms.me < spec.thresholds.p95Ms.login, 'tighter for /api/me');
    assert.deepEqual(output.options['tags'], { testid: 'run-42' });
    assert.deepEqual(
      output.expectedStatuses?.sort(),
      [...new Set(Object.values(spec.requests).map((r) => r.expectStatus))].sort(),
    );
  });

  it('login.js: one iteration is the scenario: login, /api/me x3, logout, think time, as the Node tester does', async () => {
    const { output, stderr } = sandbox('login.js', {});
    assert.ok(output, stderr);
    const calls = output.iterationCalls;
    const expected = expandSteps(spec.scenarios.login);
    assert.deepEqual(
      calls.map((c) => c.name),
      expected,
    );
    assert.deepEqual(
      shape(calls),
      expected.map((name) => `${spec.requests[name].method} ${spec.requests[name].path}`),
    );
    assert.ok(
      calls.every((c) => c.url.startsWith('http://127.0.0.1:8080/')),
      'BASE_URL defaults to http://127.0.0.1:8080',
    );
    assert.deepEqual(JSON.parse(calls[0]!.body ?? ''), users[0]);
    assert.equal(calls[0]!.headers['Content-Type'], 'application/json');
    assert.ok(
      calls.slice(1).every((c) => c.headers['Authorization'] === 'Bearer token-1'),
      'the session of the login',
    );
    assert.deepEqual(output.sleeps, [spec.scenarios.login.thinkTimeMs / 1000]);
    assert.deepEqual(output.rates['login_success'], [true]);

    const node = await nodeTesterCalls('login');
    assert.deepEqual(shape(node), shape(calls));
    assert.deepEqual(
      node.map((c) => c.name),
      expected,
    );
    assert.deepEqual(JSON.parse(node[0]!.body ?? ''), users[0]);
  });

  it('login.js: BASE_URL from the environment; handleSummary writes a JSON summary', () => {
    const { output, stderr } = sandbox('login.js', { BASE_URL: 'http://app:8080', SUMMARY_PATH: '/tmp/summary.json' });
    assert.ok(output, stderr);
    assert.ok(output.iterationCalls.every((c) => c.url.startsWith('http://app:8080/api/')));
    assert.deepEqual(Object.keys(output.summary).sort(), ['/tmp/summary.json', 'stdout']);
    assert.ok(JSON.parse(output.summary['/tmp/summary.json']!).metrics);
    // k6's standard end-of-test summary first (a handleSummary replaces it unless it prints it), then ours.
    assert.match(
      output.summary['stdout']!,
      /^\[k6 textSummary of http_reqs,login_success \{"indent":" ","enableColors":true\}\]\n\nk6 /,
    );
    assert.match(output.summary['stdout']!, /PASS\s+login_success/);
    assert.ok(sandbox('login.js', {}).output?.summary['k6-login-summary.json'], 'default summary path');
  });

  it('me-arrival-rate.js: constant arrival rate of /api/me with sessions from setup(), thresholds from scenarios.json', async () => {
    const { output, stderr } = sandbox('me-arrival-rate.js', { BASE_URL: 'http://app:8080', TESTID: 'me-1' });
    assert.ok(output, stderr);
    const scenario = (output.options['scenarios'] as Record<string, Record<string, unknown>>)['me']!;
    const arrival = spec.k6['meArrivalRate'] as Record<string, unknown>;
    assert.equal(scenario['executor'], 'constant-arrival-rate');
    for (const key of ['rate', 'timeUnit', 'duration', 'preAllocatedVUs', 'maxVUs'])
      assert.equal(scenario[key], arrival[key], key);
    assert.deepEqual(output.options['thresholds'], {
      me_success: [`rate>${spec.thresholds.loginSuccessRate}`],
      'http_req_duration{name:me}': [`p(95)<${spec.thresholds.p95Ms.me}`],
    });
    assert.deepEqual(output.options['tags'], { testid: 'me-1' });
    // setup(): min(sessions, users) logins; the iteration: GET /api/me with one of their tokens.
    assert.equal(output.setupCalls.length, Math.min(spec.scenarios.me.sessions ?? 1, users.length));
    assert.deepEqual(new Set(shape(output.setupCalls)), new Set([`POST ${spec.requests.login.path}`]));
    assert.deepEqual(
      shape(output.iterationCalls),
      expandSteps(spec.scenarios.me).map((name) => `${spec.requests[name].method} ${spec.requests[name].path}`),
    );
    assert.equal(output.iterationCalls[0]!.name, 'me');
    assert.equal(output.iterationCalls[0]!.headers['Authorization'], 'Bearer token-1');
    assert.deepEqual(shape(await nodeTesterCalls('me')), shape(output.iterationCalls));
    const overridden = sandbox('me-arrival-rate.js', { RATE: '2000', DURATION: '30s' }).output;
    assert.equal((overridden!.options['scenarios'] as Record<string, Record<string, unknown>>)['me']!['rate'], 2000);
  });

  it('both scripts fail at init with the seeding command when the credentials file is missing', () => {
    for (const script of scripts) {
      const run = sandbox(script, {}, null);
      assert.notEqual(run.status, 0);
      assert.match(run.stderr, /npm run seed -- --users N/, script);
    }
  });
});

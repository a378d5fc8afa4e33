import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createOpenApiDocument } from '../../server/http/openapi-document.js';
import { startCluster, type ClusterProcess } from '../../harness/cluster-process.js';
import { checkContract } from '../../harness/contract.js';
import { request } from '../../harness/http-client.js';
import { repoRoot } from '../../harness/repo-root.js';
import { startInProcessApp, type InProcessApp } from '../helpers/in-process-app.js';
import { freshDatabase, testConnection, testDatabaseUrl } from '../../harness/test-database.js';

const committedPath = resolve(repoRoot, 'docs/openapi.json');
const committed = (): unknown => JSON.parse(readFileSync(committedPath, 'utf8'));
const bin = (name: string) => resolve(repoRoot, 'node_modules/.bin', name);

describe('OpenAPI contract', () => {
  describe('the document', () => {
    it('is what the code generates (run `npm run openapi` after changing a route or schema)', () => {
      assert.deepEqual(committed(), JSON.parse(JSON.stringify(createOpenApiDocument())));
    });

    it("passes Redocly's recommended rules with no error or warning beyond the ones reviewed in .redocly.lint-ignore.yaml", function () {
      this.timeout(60_000);
      const lint = spawnSync(bin('redocly'), ['lint', 'docs/openapi.json', '--format=stylish'], {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      });
      const output = `${lint.stdout}${lint.stderr}`;
      assert.equal(lint.status, 0, output);
      assert.doesNotMatch(output, /\b(warning|error)\b/, output);
    });

    it('types the load tester: loadtest/engine/generated/api-types.ts is what openapi-typescript generates from it', function () {
      this.timeout(60_000);
      const dir = mkdtempSync(join(tmpdir(), 'api-types-'));
      try {
        const out = join(dir, 'api-types.ts');
        const generated = spawnSync(bin('openapi-typescript'), ['docs/openapi.json', '--output', out], {
          cwd: repoRoot,
          encoding: 'utf8',
        });
        assert.equal(generated.status, 0, generated.stderr);
        assert.equal(
          readFileSync(resolve(repoRoot, 'loadtest/engine/generated/api-types.ts'), 'utf8'),
          readFileSync(out, 'utf8'),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('describes every request of the load-test scenarios, with the status they expect', () => {
      const scenarios = JSON.parse(readFileSync(resolve(repoRoot, 'loadtest/scenarios.json'), 'utf8')) as {
        requests: Record<string, { method: string; path: string; expectStatus: number }>;
      };
      const paths = (committed() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> })
        .paths;
      for (const [name, r] of Object.entries(scenarios.requests)) {
        assert.ok(
          paths[r.path]?.[r.method.toLowerCase()]?.responses[String(r.expectStatus)],
          `${name}: ${r.method} ${r.path} → ${r.expectStatus}`,
        );
      }
    });

    it('fails a response it does not describe: a status, a missing required header, a body off its schema', () => {
      const headers = (entries: Record<string, string>) => new Headers(entries);
      const problem = (status: number, error: string) =>
        JSON.stringify({
          type: `/problems/${error.replace(/_/g, '-')}`,
          title: 'x',
          status,
          detail: 'x',
          instance: '/requests/1',
          error,
          message: 'x',
          requestId: '1',
        });
      const json = { 'content-type': 'application/json', 'x-request-id': '1' };
      const problemHeaders = { 'content-type': 'application/problem+json', 'x-request-id': '1' };
      assert.throws(
        () =>
          checkContract('GET', 'http://h/healthz', {
            status: 503,
            headers: headers(problemHeaders),
            text: problem(503, 'service_unavailable'),
          }),
        /does not describe this status/,
      );
      assert.throws(
        () =>
          checkContract('GET', 'http://h/api/me', {
            status: 503,
            headers: headers(problemHeaders),
            text: problem(503, 'service_unavailable'),
          }),
        /Retry-After is missing/,
      );
      assert.throws(
        () =>
          checkContract('GET', 'http://h/api/me', {
            status: 401,
            headers: headers(problemHeaders),
            text: problem(401, 'unauthorized'),
          }),
        /WWW-Authenticate is missing/,
      );
      assert.throws(
        () =>
          checkContract('GET', 'http://h/healthz', { status: 200, headers: headers(json), text: '{"status":"fine"}' }),
        /body/,
      );
      assert.throws(
        () =>
          checkContract('GET', 'http://h/api/me', {
            status: 401,
            headers: headers({ ...problemHeaders, 'www-authenticate': 'Bearer' }),
            text: problem(401, 'invalid_credentials'),
          }),
        /body/,
      );
      assert.throws(
        () =>
          checkContract('GET', 'http://h/healthz', {
            status: 200,
            headers: headers({ 'content-type': 'text/plain' }),
            text: 'ok',
          }),
        /content type/,
      );
      assert.throws(
        () => checkContract('PUT', 'http://h/nowhere', { status: 200, headers: headers(json), text: '{}' }),
        /does not describe/,
      );
      checkContract('GET', 'http://h/healthz', { status: 200, headers: headers(json), text: '{"status":"ok"}' });
    });
  });

  describe('served', () => {
    const connection = testConnection('app_test_openapi');
    let app: InProcessApp;
    before(async () => {
      await (await freshDatabase(connection)).end();
      app = await startInProcessApp({ connection });
    });
    after(() => app.close());

    it('at GET /openapi.json on the API port, equal to the committed document, cacheable and revalidated by ETag', async () => {
      const response = await request(`${app.url}/openapi.json`);
      assert.equal(response.status, 200);
      assert.match(String(response.headers.get('content-type')), /^application\/json/);
      assert.deepEqual(response.body, committed());
      assert.match(String(response.headers.get('cache-control')), /\bpublic\b/);
      const etag = String(response.headers.get('etag'));
      // A conditional fetch() adds `Cache-Control: no-cache` unless told otherwise, and koa never answers 304 to that.
      const again = await request(`${app.url}/openapi.json`, {
        headers: { 'if-none-match': etag, 'cache-control': 'max-age=0' },
      });
      assert.equal(again.status, 304);
      assert.equal(again.text, '');
    });

    it('answers errors as RFC 9457 problems that keep error, message and requestId', async () => {
      const response = await request(`${app.url}/no/such/route`, { headers: { 'x-request-id': 'contract-1' } });
      assert.equal(response.status, 404);
      assert.match(String(response.headers.get('content-type')), /^application\/problem\+json\b/);
      assert.deepEqual(response.body, {
        type: '/problems/not-found',
        title: 'Not Found',
        status: 404,
        detail: 'No such route.',
        instance: '/requests/contract-1',
        error: 'not_found',
        message: 'No such route.',
        requestId: 'contract-1',
      });
    });
  });

  describe('in the cluster', () => {
    let cluster: ClusterProcess | undefined;
    before(async function () {
      this.timeout(30_000);
      cluster = await startCluster({ WORKERS: '1', DATABASE_URL: testDatabaseUrl('app_test_openapi_cluster') });
    });
    after(() => cluster?.stop());

    it('serves the document on the API port only, never on the metrics port', async () => {
      assert.equal((await request(`${cluster!.url}/openapi.json`)).status, 200);
      const onMetrics = await fetch(`http://127.0.0.1:${cluster!.metricsPort}/openapi.json`);
      await onMetrics.arrayBuffer();
      assert.equal(onMetrics.status, 404);
    });
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import {
  defaultRunbookBase,
  parseRunbookBase,
  runbookUrlsIn,
  withRunbookBase,
  type PackageInfo,
} from '../../prometheus/runbook-urls.js';
import { appSampleNames } from '../helpers/app-metric-names.js';
import { asList, asMap, commandExists, readRepoFile, readYaml, repoRoot, warnLoudly } from './repo-files.js';
import { aggregationsAround, metricNamesIn } from './promql-names.js';

/*
 * the shipped Prometheus config and alert rules are checked and unit-tested by promtool in
 * `npm test`, and every alert carries what an on-call engineer needs (severity, summary, description,
 * a runbook section that exists).
 */

const ruleFiles = yamlFilesIn('prometheus/rules');
const testFiles = yamlFilesIn('prometheus/tests');

// The app's sample names plus the scrape's own `up`.
const knownMetrics = new Set(['up', ...appSampleNames()]);

interface Rule {
  readonly file: string;
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly labels: Record<string, unknown>;
  readonly annotations: Record<string, unknown>;
}

const rules: Rule[] = ruleFiles.flatMap((file) =>
  asList(asMap(readYaml(file), file)['groups'], `${file} groups`).flatMap((group) =>
    asList(asMap(group, `${file} group`)['rules'], `${file} rules`).map((raw) => {
      const rule = asMap(raw, `${file} rule`);
      return {
        file,
        record: typeof rule['record'] === 'string' ? rule['record'] : undefined,
        alert: typeof rule['alert'] === 'string' ? rule['alert'] : undefined,
        expr: String(rule['expr']),
        labels: rule['labels'] === undefined ? {} : asMap(rule['labels'], `${file} labels`),
        annotations: rule['annotations'] === undefined ? {} : asMap(rule['annotations'], `${file} annotations`),
      };
    }),
  ),
);
const alerts = rules.filter((rule) => rule.alert !== undefined);
const runbookBase = defaultRunbookBase(JSON.parse(readRepoFile('package.json')) as PackageInfo);

describe('Prometheus config and alert rules', () => {
  describe('promtool', () => {
    before(function () {
      if (!commandExists('promtool')) {
        warnLoudly(
          'promtool is not installed: the Prometheus config and rules were NOT checked. `apt-get install prometheus` (.ci/run does).',
        );
        this.skip();
      }
    });

    it('accepts prometheus/prometheus.yml (and the rule files it loads)', () => {
      promtool('check', 'config', 'prometheus/prometheus.yml');
    });

    it('accepts every rule file', () => {
      promtool('check', 'rules', ...ruleFiles);
    });

    it('passes every rule unit test in prometheus/tests', () => {
      promtool('test', 'rules', ...testFiles);
    });

    it('passes them too when rendered with another RUNBOOK_BASE_URL, every link then on that base', () => {
      const copy = mkdtempSync(join(tmpdir(), 'rules-'));
      try {
        const base = 'https://wiki.example.com/ops/runbooks';
        for (const file of [...ruleFiles, ...testFiles]) {
          const target = join(copy, file);
          cpSync(resolve(repoRoot, file), target);
          writeFileSync(target, withRunbookBase(readFileSync(target, 'utf8'), base));
          for (const url of runbookUrlsIn(readFileSync(target, 'utf8')))
            assert.ok(url.startsWith(`${base}#`), `${file}: ${url}`);
        }
        promtool('test', 'rules', ...testFiles.map((file) => join(copy, file)));
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    });
  });

  describe('static checks', () => {
    it('ships rules and tests, and prometheus.yml loads the rules and scrapes the app, itself and the load tester', () => {
      assert.ok(alerts.length >= 12, `expected the 12 alerts shipped since the first release, found ${alerts.length}`);
      assert.ok(testFiles.length > 0);
      const config = asMap(readYaml('prometheus/prometheus.yml'), 'prometheus.yml');
      assert.deepEqual(config['rule_files'], ['rules/*.yml']);
      const targets = new Map(
        asList(config['scrape_configs'], 'scrape_configs').map((raw) => {
          const job = asMap(raw, 'scrape config');
          const staticTargets = asList(job['static_configs'], 'static_configs').flatMap((sc) =>
            asList(asMap(sc, 'static config')['targets'], 'targets'),
          );
          return [String(job['job_name']), staticTargets];
        }),
      );
      // The rules' AppDown matches up{job="app"}.
      assert.deepEqual(targets.get('app'), ['app:9464']);
      assert.deepEqual(targets.get('prometheus'), ['localhost:9090']);
      assert.deepEqual(targets.get('loadtest'), ['host.docker.internal:9465']);
    });

    it('gives every alert a severity, summary, templated description and runbook_url', () => {
      for (const rule of alerts) {
        const where = `${rule.alert} (${rule.file})`;
        assert.ok(
          ['critical', 'warning'].includes(String(rule.labels['severity'])),
          `${where}: severity must be critical or warning`,
        );
        for (const key of ['summary', 'description', 'runbook_url']) {
          assert.equal(typeof rule.annotations[key], 'string', `${where}: missing annotation ${key}`);
          assert.notEqual(String(rule.annotations[key]).trim(), '', `${where}: empty annotation ${key}`);
        }
        const description = String(rule.annotations['description']);
        assert.match(description, /\$value/, `${where}: the description must show the value`);
        assert.match(
          description,
          /\$labels\.(worker|instance|job)/,
          `${where}: the description must say where (worker/instance/job)`,
        );
      }
    });

    it('points every runbook_url at a section that exists in docs/runbooks.md', () => {
      const anchors = runbookAnchors(readRepoFile('docs/runbooks.md'));
      for (const rule of alerts) {
        const url = String(rule.annotations['runbook_url']);
        const match = /^[^#]+\/docs\/runbooks\.md#([a-z0-9_-]+)$/.exec(url);
        assert.ok(match, `${rule.alert}: runbook_url ${url} must look like <base>/docs/runbooks.md#<anchor>`);
        assert.ok(anchors.has(match[1]!), `${rule.alert}: docs/runbooks.md has no section #${match[1]}`);
        assert.equal(
          match[1],
          rule.alert!.toLowerCase(),
          `${rule.alert}: the runbook section is named after the alert`,
        );
      }
    });

    // Alertmanager and Grafana make runbook_url a link only when it is absolute.
    it('makes every runbook_url absolute, from the one base npm run rules renders (rules and promtool tests alike)', () => {
      assert.match(runbookBase, /^https:\/\/github\.com\/[^/]+\/[^/]+\/blob\/main\/docs\/runbooks\.md$/);
      for (const rule of alerts) {
        const url = new URL(String(rule.annotations['runbook_url']));
        assert.equal(
          `${url.origin}${url.pathname}`,
          runbookBase,
          `${rule.alert}: runbook_url ${url.href} is not from ${runbookBase}`,
        );
      }
      for (const file of [...ruleFiles, ...testFiles]) {
        const text = readRepoFile(file);
        assert.ok(
          runbookUrlsIn(text).length > 0 || !/runbook_url/.test(text),
          `${file}: a runbook_url the renderer cannot read`,
        );
        assert.equal(withRunbookBase(text, runbookBase), text, `${file} differs from its rendering: run npm run rules`);
      }
    });

    it('rejects a RUNBOOK_BASE_URL that is not an absolute http(s) URL or carries a #fragment', () => {
      for (const bad of [
        'docs/runbooks.md',
        'ftp://example.com/runbooks',
        'https://example.com/runbooks#x',
        "https://example.com/it's",
      ]) {
        assert.throws(() => parseRunbookBase(bad), /RUNBOOK_BASE_URL/, bad);
      }
      assert.equal(parseRunbookBase('https://wiki.example.com/ops/runbooks'), 'https://wiki.example.com/ops/runbooks');
    });

    it('uses only metric names the app exposes or recording rules defined here', () => {
      const recorded = new Set(rules.flatMap((rule) => (rule.record ? [rule.record] : [])));
      for (const rule of rules) {
        const { metrics, recordings } = metricNamesIn(rule.expr);
        for (const name of metrics)
          assert.ok(knownMetrics.has(name), `${rule.alert ?? rule.record}: unknown metric ${name}`);
        for (const name of recordings)
          assert.ok(recorded.has(name), `${rule.alert ?? rule.record}: recording rule ${name} is not defined`);
      }
    });

    // Every replica's primary reads the same MySQL and exports the same mysql_* series: summed (or counted,
    // averaged) across replicas, MySQL would be counted once per replica.
    it('counts every MySQL series once, however many replicas export it (max or min, never sum)', () => {
      for (const rule of rules) {
        for (const { name, aggregation } of aggregationsAround(rule.expr, (metric) => metric.startsWith('mysql_'))) {
          assert.ok(
            aggregation === undefined || aggregation === 'max' || aggregation === 'min',
            `${rule.alert ?? rule.record}: ${aggregation}(${name}) counts MySQL once per replica`,
          );
        }
      }
    });

    it('reads the innermost aggregation around a series', () => {
      const around = (expr: string) =>
        aggregationsAround(expr, (name) => name.startsWith('mysql_')).map((found) => found.aggregation);
      assert.deepEqual(around('sum(rate(mysql_a[5m])) / max by (job) (mysql_b{x="sum(y)"})'), ['sum', 'max']);
      assert.deepEqual(around('min by (job) ({__name__=~"mysql_c|mysql_d"} > 0) + mysql_e == 0'), [
        'min',
        'min',
        undefined,
      ]);
      assert.deepEqual(around('sum without (instance) (increase(mysql_f[1m]) * on (job) group_left max(other))'), [
        'sum',
      ]);
    });

    it('unit-tests every rule file, and every alert both firing (per severity) and staying quiet', () => {
      const tested = new Set<string>();
      const fires = new Set<string>();
      const quiet = new Set<string>();
      for (const file of testFiles) {
        const doc = asMap(readYaml(file), file);
        for (const ruleFile of asList(doc['rule_files'], `${file} rule_files`)) {
          tested.add(relative(repoRoot, resolve(repoRoot, dirname(file), String(ruleFile))));
        }
        for (const test of asList(doc['tests'], `${file} tests`)) {
          for (const raw of asList(asMap(test, 'test')['alert_rule_test'] ?? [], 'alert_rule_test')) {
            const check = asMap(raw, 'alert_rule_test');
            const expected = asList(check['exp_alerts'] ?? [], 'exp_alerts');
            if (expected.length === 0) quiet.add(String(check['alertname']));
            for (const alert of expected) {
              const labels = asMap(asMap(alert, 'exp_alert')['exp_labels'], 'exp_labels');
              fires.add(`${String(check['alertname'])}/${String(labels['severity'])}`);
            }
          }
        }
      }
      assert.deepEqual([...ruleFiles].sort(), [...tested].sort(), 'every rule file is loaded by some test file');
      for (const rule of alerts) {
        assert.ok(
          fires.has(`${rule.alert}/${String(rule.labels['severity'])}`),
          `${rule.alert} (${String(rule.labels['severity'])}) has no test where it fires`,
        );
        assert.ok(quiet.has(rule.alert!), `${rule.alert} has no near-miss test where it must not fire`);
      }
    });
  });
});

function yamlFilesIn(folder: string): string[] {
  return readdirSync(resolve(repoRoot, folder))
    .filter((name) => name.endsWith('.yml'))
    .sort()
    .map((name) => `${folder}/${name}`);
}

function promtool(...args: string[]): void {
  const result = spawnSync('promtool', args, { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, `promtool ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
}

/** GitHub's heading anchors (lower case, punctuation dropped, spaces to dashes), plus explicit <a id>. */
function runbookAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const line of markdown.split('\n')) {
    const heading = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (heading)
      anchors.add(
        heading[1]!
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      );
    for (const explicit of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(explicit[1]!);
  }
  return anchors;
}

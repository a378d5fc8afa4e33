import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { budgetFor } from '../../server/budget/connection-budget.js';
import { loadConfig } from '../../server/config/load-config.js';
import {
  asList,
  asMap,
  commandExists,
  readRepoFile,
  readYaml,
  repoRoot,
  warnLoudly,
  type YamlMap,
} from './repo-files.js';

/*
 * Docker cannot run here, so docker-compose.yaml and the Dockerfile are validated statically:
 * the stack must start with `docker compose up` and no .env, on pinned images, with every mounted path
 * present in the repository and the app configured the way its own config loader accepts.
 */

const compose = asMap(readYaml('docker-compose.yaml'), 'docker-compose.yaml');
const services = asMap(compose['services'], 'services');
const service = (name: string): YamlMap => asMap(services[name], `service ${name}`);

describe('docker-compose.yaml', () => {
  it('is accepted by docker-compose config (with and without the loadtest profile)', function () {
    if (!commandExists('docker-compose')) {
      warnLoudly(
        'docker-compose is not installed: docker-compose.yaml was NOT validated by Compose itself. `apt-get install docker-compose`.',
      );
      this.skip();
    }
    for (const args of [
      ['config', '-q'],
      ['--profile', 'loadtest', 'config', '-q'],
    ]) {
      const result = spawnSync('docker-compose', ['-f', 'docker-compose.yaml', ...args], {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 60_000,
        env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp' },
      });
      assert.equal(result.status, 0, `docker-compose ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`);
    }
  });

  it('has the mysql, app, prometheus, grafana and (profile loadtest) seed and k6 services', () => {
    assert.deepEqual(Object.keys(services).sort(), ['app', 'grafana', 'k6', 'mysql', 'prometheus', 'seed']);
    assert.deepEqual(service('k6')['profiles'], ['loadtest']);
    assert.deepEqual(service('seed')['profiles'], ['loadtest']);
  });

  it('pins every image to a version (never latest)', () => {
    for (const [name, raw] of Object.entries(services)) {
      const definition = asMap(raw, name);
      if (definition['build'] !== undefined) continue; // built from our Dockerfile, checked below
      const image = String(definition['image']);
      assert.match(
        image,
        /(^[^:@]+:v?\d+\.\d+(\.\d+)?[\w.-]*$)|(@sha256:[0-9a-f]{64}$)/,
        `${name}: image ${image} is not pinned to a version`,
      );
      assert.doesNotMatch(image, /:latest\b/, `${name}: image ${image}`);
    }
    assert.match(String(service('mysql')['image']), /^mysql:8\.4\.\d+$/);
  });

  it('only interpolates variables that have a default, so it runs without a .env', () => {
    const text = readRepoFile('docker-compose.yaml').replace(/^\s*#.*$/gm, '');
    for (const match of text.matchAll(/\$\$|\$\{([^}]*)\}|\$([A-Za-z_]\w*)/g)) {
      if (match[0] === '$$') continue;
      assert.ok(
        match[1] !== undefined && /^[A-Za-z_]\w*:?-/.test(match[1]),
        `${match[0]} needs a default (\${NAME:-default})`,
      );
    }
  });

  it('runs MySQL 8.4 with the tuning from the original fix, a healthcheck and a volume', () => {
    const mysql = service('mysql');
    const flags = new Map(
      asList(mysql['command'], 'mysql command').map((arg) => {
        const [option, value] = interpolate(String(arg)).split('=', 2) as [string, string | undefined];
        return [option.replace(/_/g, '-'), value];
      }),
    );
    assert.ok(Number(flags.get('--max-connections')) > 151, 'max_connections raised from the default 151');
    for (const option of ['--innodb-buffer-pool-size', '--innodb-redo-log-capacity', '--max-allowed-packet']) {
      assert.match(flags.get(option) ?? '', /^\d+[KMG]?$/, option);
    }
    assert.equal(flags.get('--innodb-flush-log-at-trx-commit'), '2');
    assert.equal(flags.get('--innodb-flush-method'), 'O_DIRECT');
    assert.ok(
      !flags.has('--innodb-log-file-size'),
      'innodb_log_file_size is deprecated in 8.4: use innodb_redo_log_capacity',
    );
    assert.ok(asList(asMap(mysql['healthcheck'], 'mysql healthcheck')['test'], 'healthcheck test').length > 0);
    const dataVolume = volumesOf(mysql).find((volume) => volume.target === '/var/lib/mysql');
    assert.ok(dataVolume && !dataVolume.bind, 'MySQL data lives in a named volume');
  });

  it('declares every named volume it uses', () => {
    const declared = Object.keys(asMap(compose['volumes'] ?? {}, 'volumes'));
    for (const [name, raw] of Object.entries(services)) {
      for (const volume of volumesOf(asMap(raw, name))) {
        if (!volume.bind)
          assert.ok(declared.includes(volume.source), `${name}: volume ${volume.source} is not declared`);
      }
    }
  });

  it('bind-mounts only paths inside the repository, and they exist', () => {
    for (const [name, raw] of Object.entries(services)) {
      for (const volume of volumesOf(asMap(raw, name)).filter((v) => v.bind)) {
        assert.ok(volume.source.startsWith('./'), `${name}: mount ${volume.source} must be relative to the repository`);
        assert.ok(
          existsSync(resolve(repoRoot, volume.source)),
          `${name}: ${volume.source} (mounted at ${volume.target}) does not exist`,
        );
      }
    }
  });

  it('mounts the files Grafana and k6 are told to use (the home dashboard, the k6 script)', () => {
    const grafana = service('grafana');
    assert.deepEqual(
      volumesOf(grafana).map((v) => `${v.source}:${v.target}`),
      ['./grafana/provisioning:/etc/grafana/provisioning', './grafana/dashboards:/var/lib/grafana/dashboards'],
    );
    const home = String(environmentOf(grafana)['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH']);
    assert.equal(home, '/var/lib/grafana/dashboards/mysql-budget-cluster.json');
    assertMountedFileExists(grafana, home);
    assert.ok(readdirSync(resolve(repoRoot, 'grafana/provisioning')).length > 0, 'grafana/provisioning is empty');

    const k6 = service('k6');
    const command = asList(k6['command'], 'k6 command').map(String);
    const script = command.find((arg) => arg.endsWith('.js'));
    assert.ok(script, 'k6 runs a script');
    assert.equal(hostPath(k6, script), 'loadtest/k6/login.js');
    assertMountedFileExists(k6, script);
    assertMountedFileExists(k6, '/loadtest/scenarios.json');
    // The seed service writes the credentials k6 reads, through a shared volume, and k6 waits for it.
    const seed = service('seed');
    const out = asList(seed['command'], 'seed command').map(String);
    const credentials = environmentOf(k6)['CREDENTIALS'];
    assert.equal(out[out.indexOf('--out') + 1], credentials);
    assert.ok(
      volumesOf(seed).some((v) => !v.bind && credentials?.startsWith(`${v.target}/`)),
      'seed writes into a named volume',
    );
    assert.ok(
      volumesOf(k6).some((v) => !v.bind && credentials?.startsWith(`${v.target}/`)),
      'k6 reads the same volume',
    );
    assert.equal(
      asMap(asMap(k6['depends_on'], 'k6 depends_on')['seed'], 'k6 depends_on seed')['condition'],
      'service_completed_successfully',
    );
  });

  it('configures the app so its own config loader accepts it, against the mysql service', () => {
    const env = environmentOf(service('app'));
    const config = loadConfig(env);
    assert.equal(config.nodeEnv, 'production');
    assert.equal(config.http.host, '0.0.0.0', 'the API must listen on all interfaces inside the container');
    assert.equal(config.http.port, 8080);
    assert.equal(config.metrics.port, 9464);
    assert.equal(config.testRoutes, false);
    const mysqlEnv = environmentOf(service('mysql'));
    assert.deepEqual(
      {
        host: config.db.connection.host,
        user: config.db.connection.user,
        password: config.db.connection.password,
        database: config.db.connection.database,
      },
      {
        host: 'mysql',
        user: mysqlEnv['MYSQL_USER'],
        password: mysqlEnv['MYSQL_PASSWORD'],
        database: mysqlEnv['MYSQL_DATABASE'],
      },
      'DATABASE_URL names the mysql service and the user/database its image creates',
    );
    // The budget must fit MySQL's max_connections, or the primary refuses to start.
    const maxConnections = Number(
      asList(service('mysql')['command'], 'mysql command')
        .map((arg) => interpolate(String(arg)))
        .find((arg) => /^--max[-_]connections=/.test(arg))
        ?.split('=')[1],
    );
    const budget = budgetFor(config, {
      maxConnections,
      maxUserConnections: 0,
      accountMaxUserConnections: 0,
      maxPreparedStatements: 16_382,
    });
    assert.ok(budget.worstCaseConnections <= maxConnections - config.db.reservedConnections);
  });

  it('sets only variables documented in .env.example', () => {
    const documented = new Set([...readRepoFile('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    for (const key of Object.keys(environmentOf(service('app'))))
      assert.ok(documented.has(key), `app sets ${key}, which .env.example does not document`);
  });

  it('publishes the API and metrics ports, waits for a healthy MySQL and lets the app drain on stop', () => {
    const app = service('app');
    const config = loadConfig(environmentOf(app));
    const targets = asList(app['ports'], 'app ports').map((port) =>
      Number(String(port).split(':').pop()!.split('/')[0]),
    );
    assert.ok(targets.includes(config.http.port), 'API port published');
    assert.ok(targets.includes(config.metrics.port), 'metrics port published');
    assert.equal(
      asMap(asMap(app['depends_on'], 'app depends_on')['mysql'], 'depends_on mysql')['condition'],
      'service_healthy',
    );
    assert.equal(asMap(app['build'], 'app build')['context'], '.');
    assert.ok(
      seconds(String(app['stop_grace_period'])) * 1000 > config.cluster.shutdownTimeoutMs,
      'stop_grace_period exceeds SHUTDOWN_TIMEOUT_MS',
    );
  });

  it('runs Prometheus on our config and rules with the remote-write receiver on', () => {
    const prometheus = service('prometheus');
    const command = asList(prometheus['command'], 'prometheus command').map(String);
    assert.ok(command.includes('--web.enable-remote-write-receiver'));
    const configFlag = command.find((arg) => arg.startsWith('--config.file='));
    assert.ok(configFlag, '--config.file is set');
    assert.equal(hostPath(prometheus, configFlag.split('=')[1]!), 'prometheus/prometheus.yml');
    assert.ok(
      statSync(resolve(repoRoot, hostPath(prometheus, '/etc/prometheus/rules'))).isDirectory(),
      'the rules are mounted next to the config',
    );
    // The Node load tester runs on the host; prometheus.yml scrapes it as host.docker.internal:9465.
    assert.ok(
      asList(prometheus['extra_hosts'], 'prometheus extra_hosts')
        .map(String)
        .includes('host.docker.internal:host-gateway'),
    );
  });

  it('opens Grafana to anonymous viewers with the admin password from the environment', () => {
    const grafana = service('grafana');
    const raw = asMap(grafana['environment'], 'grafana environment');
    const env = environmentOf(grafana);
    assert.equal(env['GF_AUTH_ANONYMOUS_ENABLED'], 'true');
    assert.equal(env['GF_AUTH_ANONYMOUS_ORG_ROLE'], 'Viewer');
    assert.match(String(raw['GF_SECURITY_ADMIN_PASSWORD']), /^\$\{[A-Z_]+:-[^}]+\}$/);
  });

  it('has k6 write to Prometheus by remote write', () => {
    const k6 = service('k6');
    const command = asList(k6['command'], 'k6 command').map(String);
    assert.equal(command[command.indexOf('-o') + 1], 'experimental-prometheus-rw');
    assert.equal(environmentOf(k6)['K6_PROMETHEUS_RW_SERVER_URL'], 'http://prometheus:9090/api/v1/write');
  });
});

// --- helpers -----------------------------------------------------------------------------------------

interface Volume {
  readonly source: string;
  readonly target: string;
  readonly bind: boolean;
}

function volumesOf(definition: YamlMap): Volume[] {
  return asList(definition['volumes'] ?? [], 'volumes').map((raw) => {
    const [source = '', target = ''] = interpolate(String(raw)).split(':');
    return { source, target, bind: source.startsWith('.') || source.startsWith('/') };
  });
}

/** The repository path that a container path of this service maps to through its bind mounts. */
function hostPath(definition: YamlMap, containerPath: string): string {
  const mount = volumesOf(definition).find(
    (v) => v.bind && (containerPath === v.target || containerPath.startsWith(`${v.target}/`)),
  );
  assert.ok(mount, `${containerPath} is not inside a bind mount`);
  return relative(repoRoot, join(resolve(repoRoot, mount.source), containerPath.slice(mount.target.length)));
}

function assertMountedFileExists(definition: YamlMap, containerPath: string): void {
  const path = hostPath(definition, containerPath);
  assert.ok(existsSync(resolve(repoRoot, path)), `${path} (seen in the container as ${containerPath}) does not exist`);
}

/** The service's environment as the container sees it, with ${NAME:-default} resolved to its default. */
function environmentOf(definition: YamlMap): Record<string, string> {
  const raw = definition['environment'] ?? {};
  const entries = Array.isArray(raw)
    ? raw.map((item) => String(item).split(/=(.*)/s).slice(0, 2) as [string, string])
    : Object.entries(asMap(raw, 'environment')).map(([key, value]) => [key, String(value ?? '')] as [string, string]);
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolate(value)]));
}

/** Compose interpolation as on a machine without .env: every ${NAME:-default} becomes its default. */
function interpolate(value: string): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_]\w*)(?::?-([^}]*))?\}/g,
    (whole, _name: string | undefined, fallback: string | undefined) => (whole === '$$' ? '$' : (fallback ?? '')),
  );
}

function seconds(duration: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(duration);
  assert.ok(match, `duration ${duration}`);
  return Number(match[1]) * ({ ms: 0.001, s: 1, m: 60 } as const)[match[2] as 'ms' | 's' | 'm'];
}

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandExists, repoRoot, warnLoudly } from './repo-files.js';

/*
 * The README's run command, `npm ci && npm start`, where nothing answers on MySQL's default address and DATABASE_URL
 * is not set: the service brings up a MariaDB of its own and serves; stopped and started again, it finds its data.
 *
 * It runs in a copy of the working tree as a fresh clone holds it (tracked files and new ones git does not ignore,
 * uncommitted changes included), inside a network namespace of its own, where 127.0.0.1:3306 is free while the
 * machine's MariaDB keeps serving everyone else. The namespace has no network, so npm installs from its cache
 * (npm_config_offline, as `npm ci --offline` would) and MariaDB must be installed already (the test set-up does).
 * Skipped, loudly, where a namespace cannot be made.
 */

const namespace = `mbc-fresh-start-${process.pid}`;
// npm ci from the cache (about 20 s here) and the build (about 15 s) come first: bounds with room for a slower machine.
const firstStartMs = 180_000;
const restartMs = 60_000;
const stopMs = 30_000;

interface Answer {
  readonly ready: number;
  readonly answer?: { readonly status: number; readonly body: string };
}

describe('npm ci && npm start on a fresh machine', function () {
  this.timeout(firstStartMs + restartMs + 2 * stopMs + 30_000);
  let work: string;
  let clone: string;
  let probeScript: string;
  let service: Service | undefined;

  before(function () {
    const why = unavailable();
    if (why) {
      warnLoudly(`the fresh-machine start test: ${why}`);
      this.skip();
    }
    const added = spawnSync('ip', ['netns', 'add', namespace], { encoding: 'utf8' });
    if (added.status !== 0) {
      warnLoudly(`the fresh-machine start test: \`ip netns add\` failed (${added.stderr.trim()})`);
      this.skip();
    }
    run('ip', ['netns', 'exec', namespace, 'ip', 'link', 'set', 'lo', 'up']);
    work = mkdtempSync(join(tmpdir(), 'fresh-start-'));
    clone = join(work, 'clone');
    copyWorkingTree(clone);
    probeScript = join(work, 'probe.js');
    writeFileSync(probeScript, probeSource);
  });

  after(async () => {
    await service?.kill();
    // A server the service failed to stop must not outlive the namespace (it would keep the copy's files open).
    const pid = clone ? readPid(clone) : undefined;
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
    spawnSync('ip', ['netns', 'delete', namespace]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  afterEach(async () => {
    await service?.kill();
  });

  it('brings up a local MariaDB in the project, serves, stops it with the service, and keeps its data', async () => {
    const email = `fresh-${process.pid}@example.test`;
    const credentials = JSON.stringify({ email, password: 'correct horse battery staple', name: 'Fresh' });

    service = startService(clone, ['bash', '-c', 'npm ci && npm start']);
    const first = await service.probe(probeScript, firstStartMs, ['POST', '/api/users', credentials]);
    assert.equal(first.ready, 200, service.output());
    assert.equal(first.answer?.status, 201, first.answer?.body);
    const announced = service.lines().filter((line) => /started a local MariaDB/.test(String(line['msg'])));
    assert.equal(announced.length, 1, `one line says so:\n${service.output()}`);
    assert.equal(announced[0]?.['datadir'], join(clone, 'var/mariadb/data'));
    assert.equal(announced[0]?.['datadirCreated'], true);
    const pid = readPid(clone);
    assert.ok(pid !== undefined && alive(pid), 'mariadbd runs');
    await service.stop(stopMs);
    assert.ok(!alive(pid), 'mariadbd stopped with the service');

    // The data is in the project's folder, which git ignores.
    assert.ok(existsSync(join(clone, 'var/mariadb/data/app')), 'the app database is in var/mariadb/data');
    const ignored = spawnSync('git', ['check-ignore', '-q', 'var/mariadb/data/ibdata1'], { cwd: repoRoot });
    assert.equal(ignored.status, 0, 'git ignores var/mariadb');

    // Started again (the built service, without npm's rebuild): the same data, the user registered above logs in.
    service = startService(clone, [process.execPath, '--enable-source-maps', 'dist/server/main.js']);
    const login = JSON.stringify({ email, password: 'correct horse battery staple' });
    const second = await service.probe(probeScript, restartMs, ['POST', '/api/login', login]);
    assert.equal(second.ready, 200, service.output());
    assert.equal(second.answer?.status, 200, second.answer?.body);
    const again = service.lines().find((line) => /started a local MariaDB/.test(String(line['msg'])));
    assert.equal(again?.['datadirCreated'], false);
    const secondPid = readPid(clone);
    assert.ok(secondPid !== undefined && alive(secondPid), 'mariadbd runs');
    await service.stop(stopMs);
    assert.ok(!alive(secondPid), 'mariadbd stopped with the service');
  });

  it('leaves no MariaDB running after a Ctrl-C while the service starts', async () => {
    assert.ok(existsSync(join(clone, 'dist/server/main.js')), 'runs on the copy the test above installed and built');
    service = startService(clone, [process.execPath, '--enable-source-maps', 'dist/server/main.js']);
    // mariadbd writes its pid file once it is up; the service has not served yet, or only just.
    let pid: number | undefined;
    for (const deadline = Date.now() + restartMs; pid === undefined || !alive(pid); await sleep(20)) {
      if (Date.now() > deadline) assert.fail(`mariadbd did not start:\n${service.output()}`);
      pid = readPid(clone);
    }
    await service.stop(stopMs, 'SIGINT');
    for (const deadline = Date.now() + stopMs; alive(pid); await sleep(100)) {
      if (Date.now() > deadline) {
        const log = readFileSync(join(clone, 'var/mariadb/mariadbd.log'), 'utf8').split('\n').slice(-20).join('\n');
        const procStatus: string = readFileSync(`/proc/${pid}/status`, 'utf8');
        assert.fail(`mariadbd ${pid} outlived the service:\n${service.output()}\n${log}\n${procStatus}`);
      }
    }
  });

  interface Service {
    probe(script: string, withinMs: number, request: readonly string[]): Promise<Answer>;
    lines(): Record<string, unknown>[];
    output(): string;
    /** A signal to its process group, as a service manager or Ctrl-C sends it; resolves once every process ended. */
    stop(withinMs: number, signal?: NodeJS.Signals): Promise<void>;
    kill(): Promise<void>;
  }

  function startService(cwd: string, command: readonly string[]): Service {
    const child = spawn('ip', ['netns', 'exec', namespace, ...command], {
      cwd,
      env: freshEnvironment(),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, as a terminal gives `npm start`: stopped the way Ctrl-C or a service manager stops it.
      detached: true,
    });
    const text: string[] = [];
    for (const stream of [child.stdout, child.stderr])
      createInterface({ input: stream }).on('line', (l) => text.push(l));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let exitCode: number | null | undefined;
    void exited.then((code) => (exitCode = code));
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    };
    return {
      async probe(script, withinMs, request) {
        const probe = spawn(
          'ip',
          ['netns', 'exec', namespace, process.execPath, script, String(withinMs), ...request],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        let out = '';
        probe.stdout.on('data', (chunk: Buffer) => (out += chunk));
        const probed = new Promise<void>((resolve) => probe.once('exit', () => resolve()));
        // The service ending first (npm ci failed, the start failed) ends the wait at once.
        await Promise.race([probed, exited]);
        if (exitCode !== undefined) {
          probe.kill('SIGKILL');
          assert.fail(`the service exited (${exitCode}) before it served:\n${this.output()}`);
        }
        assert.ok(out !== '', `the probe answered nothing:\n${this.output()}`);
        return JSON.parse(out) as Answer;
      },
      lines: () =>
        text.flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
      output: () => text.slice(-60).join('\n'),
      async stop(withinMs, signal = 'SIGTERM') {
        signalGroup(signal);
        // The shell and npm end at once; the primary ends once its workers have drained and its MariaDB has stopped.
        for (const deadline = Date.now() + withinMs; groupAlive(child.pid!); await sleep(100)) {
          if (Date.now() > deadline) assert.fail(`the service did not stop within ${withinMs} ms:\n${this.output()}`);
        }
      },
      async kill() {
        if (exitCode !== undefined) return;
        signalGroup('SIGKILL');
        await exited;
      },
    };
  }
});

/** Why the test cannot run here, or undefined. */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (a network namespace needs root)';
  if (!commandExists('ip')) return 'no `ip` (iproute2) to make a network namespace';
  if (!existsSync('/usr/sbin/mariadbd'))
    return 'MariaDB is not installed, and the namespace has no network to install it';
  return undefined;
}

/** What a fresh clone of this working tree holds: tracked files (as they are now) and new ones git does not ignore. */
function copyWorkingTree(to: string): void {
  const listed = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], repoRoot);
  for (const file of listed.split('\0').filter(Boolean)) {
    const from = join(repoRoot, file);
    if (!existsSync(from)) continue; // deleted, not yet committed
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(from, join(to, file));
  }
}

/** A newcomer's shell: the system's PATH (none of this checkout's node_modules), npm from its cache only. */
function freshEnvironment(): NodeJS.ProcessEnv {
  const path = (process.env['PATH'] ?? '')
    .split(':')
    .filter((dir) => !dir.includes('node_modules'))
    .join(':');
  return {
    PATH: path,
    HOME: process.env['HOME'] ?? '/root',
    npm_config_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
}

function readPid(clone: string): number | undefined {
  const file = join(clone, 'var/mariadb/mariadbd.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
}

/** /proc/<pid>/stat after the command's name: state, ppid, process group, …; undefined once the process is gone. */
function procStat(pid: number | string): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()?.split(' ');
  } catch {
    return undefined;
  }
}

/** Running (an exited process not yet reaped, a zombie, is not). */
function alive(pid: number): boolean {
  const state = procStat(pid)?.[0];
  return state !== undefined && state !== 'Z';
}

function groupAlive(group: number): boolean {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .some((pid) => {
      const stat = procStat(pid);
      return stat !== undefined && stat[0] !== 'Z' && Number(stat[2]) === group;
    });
}

function run(command: string, args: readonly string[], cwd?: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

// Run inside the namespace: waits until /readyz answers 200 (or the time is up), then sends one request.
const probeSource = `
const [withinMs, method, path, body] = process.argv.slice(2);
const base = 'http://127.0.0.1:8080';
const deadline = Date.now() + Number(withinMs);
(async () => {
  let ready = 0;
  while (ready !== 200 && Date.now() < deadline) {
    ready = await fetch(base + '/readyz').then((r) => r.status, () => 0);
    if (ready !== 200) await new Promise((r) => setTimeout(r, 500));
  }
  if (ready !== 200) return console.log(JSON.stringify({ ready }));
  const r = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body });
  console.log(JSON.stringify({ ready, answer: { status: r.status, body: await r.text() } }));
})();
`;

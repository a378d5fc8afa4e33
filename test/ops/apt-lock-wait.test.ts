import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readRepoFile, repoRoot } from './repo-files.js';

/*
 * scripts/apt-get.sh, through which the test set-up (and npm start's local MariaDB) installs packages, waits for
 * another package manager to let go of apt's locks instead of failing at once. Run against a stand-in apt-get on
 * PATH that refuses with apt's own message while "the lock is held": the machine's packages are never touched.
 * (By hand, against the real apt: hold /var/lib/dpkg/lock-frontend with an fcntl lock, as apt does, e.g. Python's
 * fcntl.lockf; flock(1) takes a different kind of lock, which apt never sees.)
 */

describe('apt-get with a lock held by another package manager', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'apt-lock-wait-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A stand-in apt-get that prints `failure` and exits 100 its first `failures` times, and records every call. */
  function fakeAptGet(failures: number, failure: string): void {
    const script = `#!/usr/bin/env bash
echo "$*" >> "${dir}/calls"
n=$(wc -l < "${dir}/calls")
if [ "$n" -le ${failures} ]; then echo '${failure}' >&2; exit 100; fi
`;
    writeFileSync(join(dir, 'apt-get'), script);
    chmodSync(join(dir, 'apt-get'), 0o755);
  }
  const run = (...args: string[]) =>
    spawnSync('bash', [resolve(repoRoot, 'scripts/apt-get.sh'), ...args], {
      env: { ...process.env, PATH: `${dir}:${process.env['PATH']}` },
      encoding: 'utf8',
    });
  const calls = () => readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');

  it('waits and tries again while the lock is held, then goes on', () => {
    fakeAptGet(2, 'E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)');
    const result = run('update', '-qq');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(calls().length, 3);
    // apt waits for dpkg's locks itself with this option; the script tries again where apt does not wait (update).
    for (const call of calls()) assert.equal(call, '-o DPkg::Lock::Timeout=600 update -qq');
    assert.equal(result.stderr.match(/holds the lock; waiting/g)?.length, 1, result.stderr);
  });

  it('fails at once, with apt-get’s message, on anything but a held lock', () => {
    fakeAptGet(1, 'E: Unable to locate package no-such-package');
    const result = run('update', '-qq');
    assert.equal(result.status, 1);
    assert.equal(calls().length, 1);
    assert.match(result.stderr, /Unable to locate package no-such-package/);
  });

  it('is how the test set-up runs every apt-get', () => {
    const commands = readRepoFile('scripts/ensure-test-services.sh')
      .split('\n')
      .filter((line) => !/^\s*#/.test(line))
      // What the script tells a person to run is not a command it runs.
      .map((line) => line.replace(/log "[^"]*"/g, ''));
    assert.deepEqual(
      commands.filter((line) => /\bapt-get\s+(update|install|upgrade)\b/.test(line)),
      [],
      'apt-get is run through scripts/apt-get.sh (apt_get)',
    );
    assert.ok(commands.some((line) => /\bapt_get install\b/.test(line)));
  });
});

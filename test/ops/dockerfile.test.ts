import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { readRepoFile, repoRoot } from './repo-files.js';

/*
 * Docker cannot run here, so the Dockerfile is checked statically: multi-stage, pinned, production
 * dependencies only, non-root, a HEALTHCHECK on /healthz, and an exec-form CMD so SIGTERM reaches the primary.
 */

describe('Dockerfile', () => {
  const stages = parseDockerfile(readRepoFile('Dockerfile'));
  const build = stages[0]!;
  const runtime = stages[stages.length - 1]!;
  const args = (stage: Stage, instruction: string) =>
    stage.instructions.filter((i) => i.name === instruction).map((i) => i.args);

  it('is multi-stage on a pinned Node image of the release npm start and the tests run on', () => {
    assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
    // `npm ci` installs this exact Node into node_modules/.bin for npm start and npm test; the image must match it.
    const pkg = JSON.parse(readRepoFile('package-lock.json')) as { packages: Record<string, { version?: string }> };
    const tested = pkg.packages['node_modules/node']?.version;
    assert.match(String(tested), /^24\.\d+\.\d+$/, 'the node package (Node 24 LTS) is locked');
    for (const stage of stages) assert.equal(stage.image, `node:${tested}-bookworm-slim`, `FROM ${stage.image}`);
  });

  it('builds with dev dependencies from every source folder the server imports', () => {
    assert.ok(args(build, 'RUN').some((run) => /\bnpm ci\b/.test(run) && !/--omit=dev/.test(run)));
    assert.ok(args(build, 'RUN').some((run) => /\bnpm run build\b/.test(run)));
    const copied = args(build, 'COPY').map((copy) => copy.split(/\s+/)[0]);
    for (const folder of sourceFolders()) assert.ok(copied.includes(folder), `the build stage must COPY ${folder}`);
    assert.ok(copied.includes('tsconfig.json'));
  });

  it('ships production dependencies and dist/ only', () => {
    assert.ok(args(runtime, 'RUN').some((run) => /\bnpm ci\b.*--omit=dev/.test(run)));
    for (const copy of args(runtime, 'COPY')) {
      assert.match(
        copy,
        /^(--from=\S+\s+\/app\/dist\s+\.\/dist|package\.json package-lock\.json \.\/)$/,
        `runtime COPY ${copy}`,
      );
    }
  });

  it('runs as a non-root user', () => {
    const users = args(runtime, 'USER');
    assert.ok(users.length > 0, 'USER is set');
    assert.doesNotMatch(users[users.length - 1]!, /^(root|0)(:|$)/);
  });

  it('checks /healthz with node (no curl in the slim image)', () => {
    const [healthcheck] = args(runtime, 'HEALTHCHECK');
    assert.ok(healthcheck, 'HEALTHCHECK is set');
    const command = healthcheck.replace(/^.*?\bCMD\s+/, '');
    assert.ok(command.startsWith('['), `HEALTHCHECK ${command} must be in exec form`);
    const exec = JSON.parse(command) as string[];
    assert.equal(exec[0], 'node');
    assert.match(exec.join(' '), /\/healthz/);
  });

  it('starts node directly in exec form, so SIGTERM reaches the primary', () => {
    const cmd = args(runtime, 'CMD').pop() ?? '';
    assert.ok(cmd.startsWith('['), `CMD ${cmd} must be in exec form (a JSON array): a shell would swallow SIGTERM`);
    assert.deepEqual(JSON.parse(cmd), ['node', 'dist/server/main.js']);
    assert.deepEqual(args(runtime, 'ENTRYPOINT'), []);
    assert.ok(existsSync(resolve(repoRoot, 'server/main.ts')));
  });

  it('exposes the API and metrics ports', () => {
    const ports = args(runtime, 'EXPOSE').flatMap((expose) => expose.split(/\s+/));
    assert.ok(ports.includes('8080') && ports.includes('9464'));
  });

  it('keeps secrets, build output and dependencies out of the build context (.dockerignore)', () => {
    const ignored = readRepoFile('.dockerignore')
      .split('\n')
      .map((line) => line.trim());
    for (const entry of ['.git', 'node_modules', 'dist', '.env'])
      assert.ok(ignored.includes(entry), `.dockerignore lists ${entry}`);
  });

  it('leaves every path the build stage COPYs in the build context', () => {
    const rules = readRepoFile('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    for (const copy of args(build, 'COPY')) {
      for (const source of copy.split(/\s+/).slice(0, -1)) {
        if (source.startsWith('--')) continue;
        assert.ok(!dockerIgnores(rules, source), `.dockerignore excludes ${source}, which the Dockerfile COPYs`);
      }
    }
  });
});

/** Docker's rule: the last pattern matching the path or one of its parent folders decides; `!` re-includes. */
function dockerIgnores(rules: readonly string[], path: string): boolean {
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of rules) {
    const negated = rule.startsWith('!');
    const pattern = new RegExp(
      `^${(negated ? rule.slice(1) : rule).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`,
    );
    if (prefixes.some((prefix) => pattern.test(prefix))) ignored = !negated;
  }
  return ignored;
}

// --- helpers -----------------------------------------------------------------------------------------

interface Stage {
  readonly image: string;
  readonly instructions: { readonly name: string; readonly args: string }[];
}

function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const globalArgs = new Map<string, string>();
  const stages: { image: string; instructions: { name: string; args: string }[] }[] = [];
  for (const line of lines) {
    const [, name = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { name: name.toUpperCase(), args: rest };
    if (instruction.name === 'FROM') {
      const image = rest.split(/\s+/)[0]!.replace(/\$\{?(\w+)\}?/g, (_, arg: string) => globalArgs.get(arg) ?? '');
      stages.push({ image, instructions: [] });
    } else if (stages.length === 0 && instruction.name === 'ARG') {
      const [key = '', value = ''] = rest.split('=', 2);
      globalArgs.set(key, value);
    } else {
      stages[stages.length - 1]?.instructions.push(instruction);
    }
  }
  return stages;
}

/** Top-level folders reachable by relative imports from server/ (what the image must compile). */
function sourceFolders(): string[] {
  const folders = new Set<string>(['server']);
  const queue = ['server'];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const folder = queue.pop()!;
    if (seen.has(folder)) continue;
    seen.add(folder);
    for (const file of walk(resolve(repoRoot, folder)).filter((path) => path.endsWith('.ts'))) {
      for (const match of readFileSync(file, 'utf8').matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)) {
        const top = relative(repoRoot, resolve(dirname(file), match[1]!)).split(/[\\/]/)[0]!;
        if (!folders.has(top)) {
          folders.add(top);
          queue.push(top);
        }
      }
    }
  }
  return [...folders].sort();
}

function walk(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(folder, entry.name)) : [join(folder, entry.name)],
  );
}

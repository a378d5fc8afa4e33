import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { request } from '../../harness/http-client.js';
import { startInProcessApp } from '../helpers/in-process-app.js';
import { freshDatabase, testConnection, testDatabaseUrl } from '../../harness/test-database.js';

const run = promisify(execFile);
const database = 'app_test_seed';
const seedScript = resolve(__dirname, '../../loadtest/seed/seed-users.js');

describe('npm run seed', function () {
  this.timeout(60_000);
  let admin: Connection;
  let dir: string;
  before(async () => {
    admin = await freshDatabase(testConnection(database));
    dir = mkdtempSync(join(tmpdir(), 'seed-test-'));
  });
  after(async () => {
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  });

  const seed = (users: number, out: string) =>
    run(process.execPath, [seedScript, '--users', String(users), '--passwords', '3', '--batch', '400', '--out', out], {
      cwd: dir,
      env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: testDatabaseUrl(database), PASSWORD_HASH_COST: '10' },
    });

  it('creates N users in batches, writes their credentials, and the credentials log in', async () => {
    const out = join(dir, 'credentials.json');
    const { stdout } = await seed(1000, out);
    assert.match(stdout, /seeded 1000\/1000 users/);
    const credentials = JSON.parse(readFileSync(out, 'utf8')) as { email: string; password: string }[];
    assert.equal(credentials.length, 1000);
    assert.equal(new Set(credentials.map((c) => c.password)).size, 3);
    assert.equal(statSync(out).mode & 0o077, 0, 'the credentials file is private to its owner');
    const [[row]] = await admin.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT password_hash) AS hashes FROM users',
    );
    assert.deepEqual({ n: Number(row?.['n']), hashes: Number(row?.['hashes']) }, { n: 1000, hashes: 3 });

    const app = await startInProcessApp({ connection: testConnection(database) });
    try {
      for (const credential of [credentials[0]!, credentials[499]!, credentials[999]!]) {
        assert.equal(
          (await request(`${app.url}/api/login`, { method: 'POST', json: credential })).status,
          200,
          credential.email,
        );
      }
    } finally {
      await app.close();
    }
  });

  it('is idempotent: a second run leaves one row per user, and its own credentials valid', async () => {
    const out = join(dir, 'again.json');
    await seed(1200, out);
    const [[row]] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM users');
    assert.equal(Number(row?.['n']), 1200);
    const credentials = JSON.parse(readFileSync(out, 'utf8')) as { email: string; password: string }[];
    const app = await startInProcessApp({ connection: testConnection(database) });
    try {
      assert.equal((await request(`${app.url}/api/login`, { method: 'POST', json: credentials[5] })).status, 200);
    } finally {
      await app.close();
    }
  });

  it('refuses a bad --users with exit code 2', async () => {
    await assert.rejects(
      seed(0, join(dir, 'x.json')),
      (error: { code?: number; stderr?: string }) => error.code === 2 && /--users/.test(error.stderr ?? ''),
    );
  });
});

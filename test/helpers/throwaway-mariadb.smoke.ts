// Manual smoke check for the throwaway MariaDB helper (not a mocha test):
//   tsc ... && node <out>/throwaway-mariadb.smoke.js
import { strict as assert } from 'node:assert';
import { createConnection } from 'mysql2/promise';
import { startThrowawayMariadb } from './throwaway-mariadb';

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await fn();
  console.log(`${label.padEnd(28)} ${(performance.now() - t0).toFixed(0).padStart(6)} ms`);
  return result;
}

async function queryOne(url: string, sql: string): Promise<unknown> {
  const conn = await createConnection(url);
  try {
    const [rows] = await conn.query(sql);
    const row = (rows as Record<string, unknown>[])[0];
    return row ? Object.values(row)[0] : undefined;
  } finally {
    await conn.end();
  }
}

async function main(): Promise<void> {
  const db = await timed('startThrowawayMariadb', () => startThrowawayMariadb({ maxConnections: 20 }));
  try {
    console.log(`url=${db.url} datadir=${db.datadir}`);
    assert.equal(Number(await queryOne(db.url, 'SELECT @@max_connections')), 20);
    assert.equal(await queryOne(db.url, 'SELECT DATABASE()'), 'app');
    await queryOne(db.url, 'CREATE TABLE t (id INT PRIMARY KEY)');
    await queryOne(db.url, 'INSERT INTO t VALUES (1)');

    await timed('stop (SIGTERM)', () => db.stop());
    await assert.rejects(queryOne(db.url, 'SELECT 1'), 'server should be down after stop()');
    await timed('start after stop', () => db.start());
    assert.equal(Number(await queryOne(db.url, 'SELECT COUNT(*) FROM t')), 1);

    await timed('kill (SIGKILL)', () => db.kill());
    await assert.rejects(queryOne(db.url, 'SELECT 1'), 'server should be down after kill()');
    await timed('start after kill (recovery)', () => db.start());
    assert.equal(Number(await queryOne(db.url, 'SELECT COUNT(*) FROM t')), 1);
    assert.equal(Number(await queryOne(db.url, 'SELECT @@max_connections')), 20);
  } finally {
    await timed('destroy', () => db.destroy());
    await db.destroy(); // idempotent
  }
  console.log('throwaway-mariadb smoke: PASSED');
}

main().catch((err: unknown) => {
  console.error('throwaway-mariadb smoke: FAILED\n', err);
  process.exitCode = 1;
});

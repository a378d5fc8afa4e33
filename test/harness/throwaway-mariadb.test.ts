import { strict as assert } from 'node:assert';
import { createConnection } from 'mysql2/promise';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';

// The fault tests trust this helper to stop, kill and restart a server without losing its data; this checks it does.

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

describe('throwaway MariaDB', function () {
  this.timeout(120_000);
  let db: ThrowawayMariadb | undefined;

  after(async () => {
    await db?.destroy();
    await db?.destroy(); // idempotent
  });

  it('starts with its settings, and keeps its data across a stop, a kill and the restarts', async () => {
    db = await startThrowawayMariadb({ maxConnections: 20 });
    assert.equal(Number(await queryOne(db.url, 'SELECT @@max_connections')), 20);
    assert.equal(await queryOne(db.url, 'SELECT DATABASE()'), 'app');
    await queryOne(db.url, 'CREATE TABLE t (id INT PRIMARY KEY)');
    await queryOne(db.url, 'INSERT INTO t VALUES (1)');

    await db.stop();
    await assert.rejects(queryOne(db.url, 'SELECT 1'), 'the server is down after stop()');
    await db.start();
    assert.equal(Number(await queryOne(db.url, 'SELECT COUNT(*) FROM t')), 1);

    await db.kill();
    await assert.rejects(queryOne(db.url, 'SELECT 1'), 'the server is down after kill()');
    await db.start();
    assert.equal(Number(await queryOne(db.url, 'SELECT COUNT(*) FROM t')), 1);
    assert.equal(Number(await queryOne(db.url, 'SELECT @@max_connections')), 20);
  });
});

import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { openAdminConnection } from '../../server/db/admin-connection.js';
import { migrations } from '../../server/db/migrations.js';
import { runMigrations } from '../../server/db/run-migrations.js';
import { silentLogger, testConnection } from '../../harness/test-database.js';

const connection = testConnection('app_test_migrations');

describe('runMigrations', () => {
  it('creates the database, applies every version once, and applies nothing the second time', async () => {
    const drop = await openAdminConnection(connection, 5000);
    await drop.query('DROP DATABASE IF EXISTS app_test_migrations');
    await drop.end();

    const first = await openAdminConnection(connection, 5000);
    try {
      assert.deepEqual(
        await runMigrations(first, silentLogger),
        migrations.map((m) => m.version),
      );
      assert.deepEqual(await runMigrations(first, silentLogger), []);
      const [tables] = await first.query<RowDataPacket[]>('SHOW TABLES');
      const names = tables.map((row) => String(Object.values(row)[0])).sort();
      assert.deepEqual(names, [
        'idempotency_keys',
        'login_throttle',
        'replica_claims',
        'replica_claims_lock',
        'replica_connections',
        'schema_migrations',
        'sessions',
        'users',
      ]);
    } finally {
      await first.end();
    }
  });

  it('lets replicas that start together take turns: concurrent runs apply each version exactly once', async () => {
    const drop = await openAdminConnection(connection, 5000);
    await drop.query('DROP DATABASE IF EXISTS app_test_migrations');
    await drop.end();
    const connections = await Promise.all([1, 2, 3].map(() => openAdminConnection(connection, 5000)));
    try {
      const applied = await Promise.all(connections.map((c) => runMigrations(c, silentLogger)));
      assert.deepEqual(applied.flat().sort(), migrations.map((m) => m.version).sort());
      const [rows] = await connections[0]!.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM schema_migrations');
      assert.equal(Number(rows[0]?.['n']), migrations.length);
    } finally {
      await Promise.all(connections.map((c) => c.end()));
    }
  });
});

import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { openAdminConnection } from '../../server/db/admin-connection.js';
import { migrations } from '../../server/db/migrations.js';
import { ReplicaProtocolChangeError, runMigrations } from '../../server/db/run-migrations.js';
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

  it('refuses a version that changes the replicas’ protocol while older replicas hold live claims, and applies it once they lapse', async () => {
    const drop = await openAdminConnection(connection, 5000);
    await drop.query('DROP DATABASE IF EXISTS app_test_migrations');
    await drop.end();
    const admin = await openAdminConnection(connection, 5000);
    const columns = async () => {
      const [rows] = await admin.query<RowDataPacket[]>('SHOW COLUMNS FROM replica_connections');
      return rows.map((row) => String(row['Field']));
    };
    const version = async () => {
      const [rows] = await admin.query<RowDataPacket[]>('SELECT MAX(version) AS v FROM schema_migrations');
      return Number(rows[0]?.['v']);
    };
    try {
      // A fleet of the version before the claims were judged by their observers: schema 3, one replica renewing.
      const before = migrations.filter((m) => m.version < 4);
      assert.deepEqual(await runMigrations(admin, silentLogger, before), [1, 2, 3]);
      await admin.query(
        `INSERT INTO replica_claims (replica_id, granted, wanted, joined_at, expires_at)
         VALUES ('0123456789abcdef0123456789abcdef', 8, 8, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 60 SECOND)`,
      );

      await assert.rejects(runMigrations(admin, silentLogger), (error: unknown) => {
        assert.ok(error instanceof ReplicaProtocolChangeError, String(error));
        assert.equal(error.migration.version, 4);
        assert.equal(error.liveClaims, 1);
        assert.match(error.message, /Recreate/);
        return true;
      });
      // Nothing of version 4 ran: the older replica still registers its connections as it always did.
      assert.equal(await version(), 3);
      assert.deepEqual(await columns(), ['connection_id', 'replica_id', 'registered_at']);
      await admin.query(
        `INSERT INTO replica_connections (connection_id, replica_id, registered_at)
         VALUES (CONNECTION_ID(), '0123456789abcdef0123456789abcdef', UTC_TIMESTAMP(6))`,
      );

      // The older replica stopped and its claim lapsed: the next start applies the rest.
      await admin.query('UPDATE replica_claims SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND');
      assert.deepEqual(
        await runMigrations(admin, silentLogger),
        migrations.filter((m) => m.version >= 4).map((m) => m.version),
      );
      assert.ok((await columns()).includes('server_id'));
    } finally {
      await admin.end();
    }
  });
});

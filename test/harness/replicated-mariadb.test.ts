import assert from 'node:assert/strict';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { startMovingEndpoint, type MovingEndpoint } from '../../harness/moving-endpoint.js';
import { startReplicatedMariadb, type ReplicatedMariadb } from '../../harness/replicated-mariadb.js';

/*
 * The failover tests' topology works as a managed database's does: the app account writes to the primary only
 * (the replica refuses with 1290), a switchover moves the writes with nothing lost, a promotion after kill -9 gives a
 * writable server, the old primary comes back as a replica, and the endpoint sends new connections to the primary
 * while open ones stay where they are.
 */

describe('harness: a replicated MariaDB pair and a moving endpoint', function () {
  this.timeout(90_000);
  let pair: ReplicatedMariadb;
  let endpoint: MovingEndpoint;

  before(async () => {
    pair = await startReplicatedMariadb({ semiSync: true });
    endpoint = await startMovingEndpoint(pair.primary().port);
  });
  after(async () => {
    await endpoint?.close();
    await pair?.destroy();
  });

  const app = (port: number) => createConnection({ uri: pair.appUrl(port) });
  const count = async (port: number) => {
    const connection = await app(port);
    try {
      const [rows] = await connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM t');
      return Number(rows[0]?.['n']);
    } finally {
      connection.destroy();
    }
  };

  it('switches over, fails over and fails back, the endpoint following the primary', async () => {
    const writer = await app(endpoint.port);
    await writer.query('CREATE TABLE t (id INT PRIMARY KEY)');
    await writer.query('INSERT INTO t VALUES (1)');
    await assert.rejects((await app(pair.replica().port)).query('INSERT INTO t VALUES (2)'), { errno: 1290 });

    const old = pair.primary();
    const next = await pair.switchover();
    endpoint.moveTo(next.port);
    // The open connection still reaches the old server, now read-only.
    await assert.rejects(writer.query('INSERT INTO t VALUES (2)'), { errno: 1290 });
    writer.destroy();
    const moved = await app(endpoint.port);
    await moved.query('INSERT INTO t VALUES (2)');
    moved.destroy();
    await pair.synced();
    assert.equal(await count(old.port), 2, 'the old primary replicates from the new one');

    await pair.primary().kill();
    endpoint.moveTo(undefined);
    const promoted = await pair.promote();
    assert.equal(promoted, old);
    endpoint.moveTo(promoted.port);
    const after = await app(endpoint.port);
    await after.query('INSERT INTO t VALUES (3)');
    after.destroy();
    await pair.rejoin(pair.replica());
    await pair.synced();
    assert.equal(await count(pair.replica().port), 3, 'the old primary, back as a replica, has every row');
    const back = await pair.switchover();
    endpoint.moveTo(back.port);
    assert.equal(await count(endpoint.port), 3, 'nothing lost through switchover, failover and failback');
  });
});

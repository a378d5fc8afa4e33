import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import type { DbConnectionOptions } from '../../server/config/config.js';
import { parseDatabaseUrl } from '../../server/config/database-url.js';
import { freshDatabase } from '../../harness/test-database.js';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../../harness/throwaway-mariadb.js';
import { startFreezableProxy, type FreezableProxy } from '../helpers/freezable-proxy.js';
import { eventually, startReplica, type InProcessReplica } from '../helpers/in-process-replica.js';
import { figures } from './chaos-fixtures.js';

/*
 * The live budget's own faults (APP_REPLICAS=auto), injected for real against a throwaway MariaDB: coordinators in the
 * test process (the production coordinator, no workers), one of them stalled, cut, interrupted or outnumbered. What a
 * healthy replica must see: no fence, no slow-down past a beat or two, no thread left behind.
 */

const maxConnections = 60;
const shape = { primaryConnections: 1, pools: 2, poolMax: 4 };

describe('chaos: the live budget’s own faults', function () {
  this.timeout(120_000);
  let mariadb: ThrowawayMariadb;
  let admin: Connection;
  let proxy: FreezableProxy | undefined;
  const replicas: InProcessReplica[] = [];
  let database = '';

  before(async () => {
    mariadb = await startThrowawayMariadb({ maxConnections });
  });
  after(async () => {
    await mariadb?.destroy();
  });
  beforeEach(async function () {
    database = `coordination_${(this.currentTest?.title ?? 'x').replace(/[^a-z]+/gi, '_').slice(0, 40)}`;
    admin = await freshDatabase({ ...parseDatabaseUrl(mariadb.url), database });
  });
  afterEach(async () => {
    await Promise.all(replicas.splice(0).map((replica) => replica.leave().catch(() => {})));
    await proxy?.close();
    proxy = undefined;
    await admin.end().catch(() => {});
  });

  const direct = (): DbConnectionOptions => ({ ...parseDatabaseUrl(mariadb.url), database });
  const start = (name: string, connection: DbConnectionOptions, reservedConnections = 10) => {
    const replica = startReplica(name, connection, { shape, workers: 1, reservedConnections });
    replicas.push(replica);
    return replica;
  };
  const grants = async (): Promise<number[]> => {
    const [rows] = await admin.query<RowDataPacket[]>('SELECT granted FROM replica_claims ORDER BY seq');
    return rows.map((row) => Number(row['granted']));
  };
  const lockWaits = async (): Promise<number> => {
    const [rows] = await admin.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'",
    );
    return Number(rows[0]?.['n']);
  };
  /** Threads on the database under test, the asking connection's own excluded. */
  const threads = async (): Promise<number> => {
    const [rows] = await admin.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
      [database],
    );
    return Number(rows[0]?.['n']);
  };

  it('a replica frozen while it holds the claims lock fences nobody else, and is retired within the lease and a few seconds', async () => {
    const healthy = start('healthy', direct());
    assert.ok(await eventually(() => healthy.ceilings.current() > 0, 15_000), 'the first replica got a share');
    proxy = await startFreezableProxy({ host: '127.0.0.1', port: mariadb.port });
    const frozen = proxy.freezeAfter('replica_claims_lock');
    const stalled = start('stalled', { ...direct(), port: proxy.port });
    await frozen;
    // From now on the stalled replica's session sits in its transaction holding the lock, its path silent. Everything
    // it tries next also goes through the proxy: cut it off entirely, as a host that paused would be.
    const frozenAt = Date.now();
    proxy.cutOff();
    let peakLockWaits = 0;
    let lowestCeiling = Number.POSITIVE_INFINITY;
    let retiredAt: number | undefined;
    while (Date.now() - frozenAt < 12_000) {
      peakLockWaits = Math.max(peakLockWaits, await lockWaits());
      lowestCeiling = Math.min(lowestCeiling, healthy.ceilings.current());
      if (retiredAt === undefined && (await grants()).length === 1) retiredAt = Date.now();
      await sleep(100);
    }
    const claimsLeft = await eventually(async () => (await grants()).length === 1, 10_000);
    figures('frozen lock holder', {
      healthyFenced: healthy.counts.fenced,
      healthyRenewFailures: healthy.counts.renewFailed,
      lowestCeiling,
      peakLockWaits,
      stalledFenced: stalled.counts.fenced,
      retiredAfterMs: (retiredAt ?? Date.now()) - frozenAt,
    });
    assert.equal(healthy.counts.fenced, 0, 'the healthy replica fenced itself');
    assert.ok(lowestCeiling > 0, 'the healthy replica stopped serving');
    assert.ok(peakLockWaits <= 2, `${peakLockWaits} coordination statements waited on a lock at once`);
    assert.ok(claimsLeft, `the stalled replica's claim was never retired: grants ${JSON.stringify(await grants())}`);
    assert.ok(stalled.counts.fenced >= 1, 'the stalled replica kept its share while cut off');
  });

  it('with more replicas than room, the oldest ⌊usable ÷ smallest grant⌋ serve, the rest wait at 0 and get room as it frees', async () => {
    // usable = 15, smallest grant 1 + 2 pools × 1 = 3 (DB_POOL_MAX 1): room for five.
    const small = { ...shape, poolMax: 1 };
    const reserve = maxConnections - 15;
    for (let index = 0; index < 7; index++) {
      const replica = startReplica(`r${index}`, direct(), { shape: small, workers: 1, reservedConnections: reserve });
      replicas.push(replica);
      // One after another, so the join order is the index.
      assert.ok(await eventually(async () => (await grants()).length === index + 1, 10_000));
    }
    const expected = [3, 3, 3, 3, 3, 0, 0];
    assert.ok(
      await eventually(async () => JSON.stringify(await grants()) === JSON.stringify(expected), 20_000),
      `grants ${JSON.stringify(await grants())}, expected ${JSON.stringify(expected)}`,
    );
    assert.deepEqual(
      replicas.map((replica) => replica.ceilings.current()),
      [1, 1, 1, 1, 1, 0, 0],
    );
    // One of the five leaves: the oldest waiting replica gets its room.
    await replicas[1]!.leave();
    assert.ok(
      await eventually(() => replicas[5]!.ceilings.current() === 1, 10_000),
      'the sixth replica never got the room the second left',
    );
    assert.equal(replicas[6]!.ceilings.current(), 0);
  });

  it('a coordination statement killed mid-step (KILL QUERY, as pt-kill does) leaks no thread and joins no extra claim', async () => {
    const replica = start('killed', direct());
    assert.ok(await eventually(() => replica.ceilings.current() > 0, 15_000));
    // Every statement of its next sessions waits on rows another session holds, and is killed while it waits.
    await admin.query('START TRANSACTION');
    await admin.query('SELECT * FROM replica_connections FOR UPDATE');
    await admin.query('SELECT * FROM replica_claims FOR UPDATE');
    const [[own]] = await admin.query<RowDataPacket[]>(
      "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID() AND COMMAND = 'Sleep'",
      [database],
    );
    const killer = await createConnection(direct());
    if (own) await killer.query('KILL ?', [Number(own['id'])]).catch(() => {});
    let killed = 0;
    for (const until = Date.now() + 8000; Date.now() < until; await sleep(50)) {
      const [rows] = await killer.query<RowDataPacket[]>(
        "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID NOT IN (CONNECTION_ID(), ?) AND COMMAND = 'Query' AND INFO LIKE '%replica\\_%'",
        [admin.threadId],
      );
      for (const row of rows) {
        await killer.query('KILL QUERY ?', [Number(row['id'])]).catch(() => {});
        killed++;
      }
    }
    await admin.query('ROLLBACK');
    assert.ok(killed > 0, 'no coordination statement waited to be killed');
    assert.ok(
      await eventually(() => replica.ceilings.current() > 0, 15_000),
      'the replica serves again once the tables are free',
    );
    // Once settled: its one coordination connection, plus the killer's, and nothing asleep beside them.
    assert.ok(
      await eventually(async () => (await threads()) <= 2, 10_000),
      `${await threads()} threads on the database, killed ${killed} statements`,
    );
    assert.ok(
      replica.joins() <= replica.counts.fenced + 1,
      `joined ${replica.joins()} times with ${replica.counts.fenced} fences`,
    );
    const [claims] = await admin.query<RowDataPacket[]>('SELECT replica_id FROM replica_claims');
    assert.equal(claims.length, 1, 'claims of abandoned joins were left behind');
    await killer.end();
  });
});

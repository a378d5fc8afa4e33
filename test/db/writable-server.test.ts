import assert from 'node:assert/strict';
import { createWritableServer } from '../../server/db/writable-server.js';

/* Which server takes writes, as a pool sees it: connections to any other are stale (writable-server.ts). */

describe('writable server', () => {
  let clock: number;
  let stale: number;
  let changes: [number, number | undefined][];
  const create = () => {
    clock = 0;
    stale = 0;
    changes = [];
    return createWritableServer(
      { checkIntervalMs: 1000 },
      { now: () => clock, onStale: () => stale++, onChange: (to, from) => changes.push([to, from]) },
    );
  };

  it('follows a switchover: the demoted server is stale, then the new one is the primary, then a failback', () => {
    const servers = create();
    assert.ok(servers.admit({ serverId: 1, readOnly: false }));
    assert.equal(stale, 0, 'nothing to let go of yet');
    servers.demote(1);
    assert.ok(servers.isStale(1));
    assert.equal(servers.current(), undefined);
    assert.ok(!servers.admit({ serverId: 1, readOnly: true }), 'a read-only server is not kept');
    assert.ok(servers.admit({ serverId: 2, readOnly: false }));
    assert.deepEqual([servers.isStale(1), servers.isStale(2), servers.current()], [true, false, 2]);
    assert.ok(servers.admit({ serverId: 1, readOnly: false }), 'the old primary takes writes again: failback');
    assert.deepEqual([servers.isStale(1), servers.isStale(2)], [false, true]);
    assert.deepEqual(changes, [
      [1, undefined],
      [2, 1],
      [1, 2],
    ]);
    assert.equal(stale, 3, 'the demotion, and each change of primary');
  });

  it('a new writable server makes every other one stale, without a demotion (the endpoint moved)', () => {
    const servers = create();
    servers.admit({ serverId: 1, readOnly: false });
    servers.admit({ serverId: 2, readOnly: false });
    assert.ok(servers.isStale(1));
    assert.ok(!servers.isStale(undefined), 'a connection whose server is not known is not judged');
  });

  it('asks each server whether it still takes writes once per interval, on the first hand-out that comes', () => {
    const servers = create();
    servers.admit({ serverId: 1, readOnly: false });
    assert.ok(!servers.checkDue(1), 'just admitted: just checked');
    clock = 1000;
    assert.ok(servers.checkDue(1));
    assert.ok(!servers.checkDue(1), 'the others of that interval are not asked');
    clock = 1999;
    assert.ok(!servers.checkDue(1));
    clock = 2000;
    assert.ok(servers.checkDue(1));
  });
});

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnectGate } from '../../server/db/connect-gate.js';

/*
 * While no server takes writes, a pool's creates connect one at a time, an interval apart, and all at once again as
 * soon as one finds a server that does (connect-gate.ts).
 */

const intervalMs = 50;
const now = () => performance.now();

/** Resolves true when `work` settled without waiting for any timer or I/O (within the current turn's microtasks). */
async function atOnce(work: Promise<unknown>): Promise<boolean> {
  let turned = false;
  setImmediate(() => (turned = true));
  await work;
  return !turned;
}
const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

describe('connect gate', () => {
  it('lets every create connect at once while connections succeed', async () => {
    const gate = createConnectGate({ intervalMs }, { now });
    const turns = Promise.all([gate.turn(now() + 1000), gate.turn(now() + 1000), gate.turn(now() + 1000)]);
    assert.ok(await atOnce(turns));
    for (const over of await turns) over(true);
  });

  it('once an attempt found no server, probes one at a time an interval apart, then lets all go when one finds it', async () => {
    const gate = createConnectGate({ intervalMs }, { now });
    (await gate.turn(now() + 5000))(false, refused);
    const failedAt = now();
    const order: string[] = [];
    const waiting = ['a', 'b', 'c'].map((name) =>
      gate.turn(now() + 5000).then((over) => {
        order.push(name);
        return { over, at: now() };
      }),
    );
    const { over: a, at } = await waiting[0]!;
    assert.ok(at - failedAt >= intervalMs - 1, `the next attempt ${at - failedAt} ms after the failed one`);
    await sleep(intervalMs * 2);
    assert.deepEqual(order, ['a'], 'one attempt at a time: b waits while a runs');
    a(false, refused);
    const { over: b } = await waiting[1]!;
    assert.deepEqual(order, ['a', 'b']);
    b(true);
    assert.ok(await atOnce(waiting[2]!), 'found: the others go at once');
    assert.deepEqual(order, ['a', 'b', 'c']);
    assert.ok(await atOnce(gate.turn(now() + 1000)), 'and later creates too');
  });

  it("fails a create still waiting at its deadline with the last attempt's error", async () => {
    const gate = createConnectGate({ intervalMs }, { now });
    (await gate.turn(now() + 5000))(false, refused);
    const probe = await gate.turn(now() + 5000);
    const late = gate.turn(now() + 100);
    await assert.rejects(late, refused);
    probe(false, refused);
  });
});

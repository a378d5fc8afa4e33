import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createAdmissionLimiter,
  OverloadedError,
  type AdmissionLimiter,
} from '../../server/admission/admission-limiter.js';

/** Work that holds its slot until `release()`; `started` resolves once it runs. */
function holdSlot(limiter: AdmissionLimiter, signal?: AbortSignal) {
  let release = () => {};
  let markStarted = () => {};
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const done = limiter.run(() => {
    markStarted();
    return new Promise<void>((resolve) => (release = resolve));
  }, signal);
  return { started, done, release: () => release() };
}

describe('admission limiter', () => {
  it('runs at most `concurrency` at once and starts waiters in order', async () => {
    const limiter = createAdmissionLimiter({ concurrency: 2, maxQueue: 10, maxWaitMs: 1000 });
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        limiter.run(async () => {
          order.push(i);
          running++;
          peak = Math.max(peak, running);
          await sleep(20);
          running--;
        }),
      ),
    );
    assert.equal(peak, 2);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(limiter.state(), { active: 0, queued: 0, limit: 2 });
  });

  it('refuses at once when the queue is full', async () => {
    const limiter = createAdmissionLimiter({ concurrency: 1, maxQueue: 1, maxWaitMs: 1000 });
    let firstDone = false;
    const first = limiter.run(() => sleep(50).then(() => (firstDone = true)));
    const second = limiter.run(() => sleep(1));
    await assert.rejects(
      limiter.run(() => sleep(1)),
      (error: unknown) => error instanceof OverloadedError && error.reason === 'queue_full',
    );
    // At once: refused while the slot's holder still runs, not when a place came free or a wait ran out.
    assert.equal(firstDone, false);
    await Promise.all([first, second]);
  });

  it('refuses a waiter after maxWaitMs, and the slot it would have taken still serves the next one', async () => {
    const limiter = createAdmissionLimiter({ concurrency: 1, maxQueue: 5, maxWaitMs: 30 });
    const slow = limiter.run(() => sleep(80));
    const started = performance.now();
    await assert.rejects(
      limiter.run(async () => 'never'),
      (error: unknown) => error instanceof OverloadedError && error.reason === 'wait_timeout',
    );
    const waited = performance.now() - started;
    assert.ok(waited >= 25 && waited < 1000, `waited ${waited} ms`);
    await slow;
    assert.equal(await limiter.run(async () => 'next'), 'next');
    assert.deepEqual(limiter.state(), { active: 0, queued: 0, limit: 1 });
  });

  it('frees the slot when the work throws', async () => {
    const limiter = createAdmissionLimiter({ concurrency: 1, maxQueue: 0, maxWaitMs: 10 });
    await assert.rejects(
      limiter.run(async () => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await limiter.run(async () => 1), 1);
  });

  it('reads a concurrency given as a function at every admission, and starts every waiter the raised limit has room for', async () => {
    let concurrency = 1;
    const limiter = createAdmissionLimiter({ concurrency: () => concurrency, maxQueue: 10, maxWaitMs: 1000 });
    let release = () => {};
    const held = limiter.run(() => new Promise<void>((resolve) => (release = resolve)));
    const started: number[] = [];
    const waiting = [1, 2, 3].map((i) =>
      limiter.run(async () => {
        started.push(i);
        await sleep(10);
      }),
    );
    await sleep(10);
    assert.deepEqual(limiter.state(), { active: 1, queued: 3, limit: 1 });
    // Raised while they wait: the next admission starts the waiters first, in order, then itself.
    concurrency = 5;
    await limiter.run(async () => started.push(4));
    assert.deepEqual(started, [1, 2, 3, 4]);
    release();
    await Promise.all([held, ...waiting]);
    assert.deepEqual(limiter.state(), { active: 0, queued: 0, limit: 5 });
  });

  it("lets a waiter whose signal aborts leave the line at once, with the signal's reason, and the next takes its place", async () => {
    const limiter = createAdmissionLimiter({ concurrency: 1, maxQueue: 1, maxWaitMs: 60_000 });
    let release = () => {};
    const held = limiter.run(() => new Promise<void>((resolve) => (release = resolve)));
    const hangUp = new AbortController();
    const reason = new Error('client closed');
    let ran = false;
    const leaving = limiter.run(async () => (ran = true), hangUp.signal);
    assert.deepEqual(limiter.state(), { active: 1, queued: 1, limit: 1 });
    hangUp.abort(reason);
    await assert.rejects(leaving, (error: unknown) => error === reason);
    // Left while the slot's holder still runs: its place in the full line is free for the next one.
    assert.deepEqual(limiter.state(), { active: 1, queued: 0, limit: 1 });
    const next = limiter.run(async () => 'next');
    release();
    assert.equal(await next, 'next');
    await held;
    assert.equal(ran, false, 'the work of the waiter that left never ran');
    assert.deepEqual(limiter.state(), { active: 0, queued: 0, limit: 1 });
  });

  it('refuses an already aborted signal without running the work, and ignores an abort after the start', async () => {
    const limiter = createAdmissionLimiter({ concurrency: 1, maxQueue: 1, maxWaitMs: 60_000 });
    const reason = new Error('gone before it came');
    let ran = false;
    await assert.rejects(
      limiter.run(async () => (ran = true), AbortSignal.abort(reason)),
      (error: unknown) => error === reason,
    );
    assert.equal(ran, false);
    // Let in at once, then aborted.
    const late = new AbortController();
    const running = holdSlot(limiter, late.signal);
    await running.started;
    late.abort();
    running.release();
    await running.done;
    // Started from the line by a release, then aborted: it runs to its end and frees its slot once.
    const first = holdSlot(limiter);
    await first.started;
    const startedLate = new AbortController();
    const second = holdSlot(limiter, startedLate.signal);
    assert.deepEqual(limiter.state(), { active: 1, queued: 1, limit: 1 });
    first.release();
    await second.started;
    startedLate.abort();
    second.release();
    await Promise.all([first.done, second.done]);
    assert.deepEqual(limiter.state(), { active: 0, queued: 0, limit: 1 });
  });

  it('enters at once without promises when there is room and nobody waits, and never jumps the line', async () => {
    const limiter = createAdmissionLimiter({ concurrency: 1, maxQueue: 10, maxWaitMs: 1000 });
    assert.equal(limiter.tryEnter(), true);
    assert.equal(limiter.tryEnter(), false, 'no room');
    const waiting = limiter.run(async () => 'waited');
    limiter.leave();
    // The slot just freed went to the waiter, not to a newcomer.
    assert.equal(limiter.tryEnter(), false);
    assert.equal(await waiting, 'waited');
    assert.equal(limiter.tryEnter(), true);
    limiter.leave();
    assert.deepEqual(limiter.state(), { active: 0, queued: 0, limit: 1 });
  });
});

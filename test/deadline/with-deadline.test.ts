import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineError, withDeadline } from '../../server/deadline/with-deadline.js';

/* The one way a wait is bounded: a result in time is the result; a late one goes to `late`, never to the caller. */

describe('withDeadline', () => {
  it('gives the result of work that finishes in time, and its failure', async () => {
    assert.equal(await withDeadline(1000, async () => 42, { what: 'quick' }), 42);
    await assert.rejects(
      withDeadline(1000, () => Promise.reject(new Error('no')), { what: 'failing' }),
      /no/,
    );
  });

  it('fails at the deadline, aborts the work’s signal, and hands a late result to `late`', async () => {
    let seenSignal: AbortSignal | undefined;
    let lateValue: string | undefined;
    let release: (value: string) => void = () => {};
    const work = new Promise<string>((resolve) => (release = resolve));
    await assert.rejects(
      withDeadline(
        20,
        (signal) => {
          seenSignal = signal;
          return work;
        },
        { what: 'slow', late: (value) => (lateValue = value) },
      ),
      (error: unknown) => error instanceof DeadlineError && error.what === 'slow',
    );
    assert.equal(seenSignal?.aborted, true);
    release('opened too late');
    await sleep(0);
    assert.equal(lateValue, 'opened too late');
  });

  it('drops a failure that arrives after the deadline instead of leaving it unhandled', async () => {
    let fail: (error: Error) => void = () => {};
    const work = new Promise<never>((_, reject) => (fail = reject));
    await assert.rejects(
      withDeadline(10, () => work, { what: 'late failure' }),
      DeadlineError,
    );
    fail(new Error('too late to matter'));
    await sleep(10);
  });
});

import assert from 'node:assert/strict';
import { createCrashPolicy } from '../../server/lifecycle/crash-policy.js';

describe('crash policy', () => {
  const options = { maxCrashes: 5, windowMs: 30_000, baseDelayMs: 100, maxDelayMs: 1_000 };

  it('backs off exponentially, capped', () => {
    const policy = createCrashPolicy(options);
    const delays = [0, 1, 2, 3].map((i) => policy.onCrash(i * 10));
    assert.deepEqual(
      delays.map((d) => (d.action === 'restart' ? d.delayMs : -1)),
      [100, 200, 400, 800],
    );
    const capped = createCrashPolicy({ ...options, maxCrashes: 100 });
    let last = capped.onCrash(0);
    for (let i = 1; i < 10; i++) last = capped.onCrash(i);
    assert.deepEqual(last, { action: 'restart', delayMs: 1_000, recentCrashes: 10 });
  });

  it('gives up on the fifth crash within the window', () => {
    const policy = createCrashPolicy(options);
    for (let i = 0; i < 4; i++) assert.equal(policy.onCrash(i * 1000).action, 'restart');
    assert.deepEqual(policy.onCrash(5000), { action: 'give_up', recentCrashes: 5 });
  });

  it('forgets crashes older than the window', () => {
    const policy = createCrashPolicy(options);
    for (let i = 0; i < 4; i++) policy.onCrash(i * 1000);
    const later = policy.onCrash(40_000);
    assert.deepEqual(later, { action: 'restart', delayMs: 100, recentCrashes: 1 });
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Times the kernel has put this process's main thread to sleep and woken it: one per wake-up of an idle event loop. */
function wakeUps(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1]);
}

/**
 * The process metrics sample the event loop's lag with a timer that wakes the loop whether or not it has work. At
 * prom-client's default of 10 ms that is a hundred wake-ups a second in every worker and in the primary; the product
 * samples every 100 ms. An idle process holding only the metrics registry is counted by the kernel: a timer can be
 * late under load, never early, so a busy machine only lowers the count.
 */
describe('event-loop lag sampling', () => {
  it('wakes an idle process about ten times a second, not a hundred', async function () {
    this.timeout(20_000);
    const registry = resolve(__dirname, '../../server/metrics/create-process-registry.js');
    const child = spawn(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(registry)}).createProcessRegistry('0');
         process.stdout.write('ready');
         process.stdin.on('end', () => process.exit(0)).resume();`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      await once(child.stdout, 'data');
      await sleep(500); // start-up's own wake-ups (module loading, the first GC) are over
      const pid = child.pid ?? 0;
      const before = wakeUps(pid);
      await sleep(2000);
      const woken = wakeUps(pid) - before;
      assert.ok(woken < 80, `${woken} wake-ups in 2 s`);
    } finally {
      child.stdin.end();
      await once(child, 'exit');
    }
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { processTreeCpu } from '../../loadtest/bench/process-cpu.js';

/** The login bench splits CPU per login by whom it was spent; the split must see a process's children. */
describe('process tree CPU from /proc', () => {
  it("counts a child's busy event loop as its tree's main-thread time", async function () {
    this.timeout(30_000);
    const before = processTreeCpu(process.pid);
    // The child spins until it has used 300 ms of its own CPU (however slowly the machine gives it that), says so,
    // and stays alive until told to go: an ended process's time leaves the tree with it.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const start = process.cpuUsage();
         const used = () => { const u = process.cpuUsage(start); return u.user + u.system; };
         while (used() < 300000) {}
         process.stdout.write('spun');
         process.stdin.on('end', () => process.exit(0)).resume();`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    await once(child.stdout, 'data');
    const after = processTreeCpu(process.pid);
    child.stdin.end();
    await once(child, 'exit');
    // /proc counts in ticks of 10 ms.
    assert.ok(after.mainThreadsMs - before.mainThreadsMs >= 290, `${after.mainThreadsMs - before.mainThreadsMs} ms`);
  });
});

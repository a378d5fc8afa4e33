import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { repoRoot } from '../../harness/repo-root.js';

/*
 * The primary's signals, phase by phase, in a real process: a signal the process has caught but not yet handled when
 * the phase changes is handled by the new phase (a Ctrl-C as the start ends must not be forgotten), and release()
 * gives the signal back its default action.
 */

const router = resolve(repoRoot, 'dist/server/lifecycle/signal-router.js');

/** Runs `body` in a fresh node with `createSignalRouter` in scope; its stdout and how it ended. */
function run(body: string): { stdout: string; status: number | null; signal: NodeJS.Signals | null } {
  const script = `const { createSignalRouter } = require(${JSON.stringify(router)});\n${body}`;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  return { stdout: result.stdout, status: result.status, signal: result.signal };
}

describe('signal router (real process, real signals)', () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`a ${signal} caught just before the phase changes goes to the new phase`, () => {
      const ended = run(`
        const signals = createSignalRouter({ ${signal}: () => console.log('start') }, { process });
        setTimeout(() => {
          // Caught at once, handled on a later turn of the event loop: after the route below.
          process.kill(process.pid, '${signal}');
          signals.route({ ${signal}: (s) => { console.log('running ' + s); process.exit(0); } });
          setTimeout(() => { console.log('not handled'); process.exit(1); }, 2000);
        }, 10);
      `);
      assert.deepEqual(ended, { stdout: `running ${signal}\n`, status: 0, signal: null });
    });
  }

  it('routes each signal to its own handler, and a phase may route only some of them', () => {
    const ended = run(`
      const seen = [];
      const signals = createSignalRouter({ SIGINT: (s) => seen.push('a ' + s), SIGTERM: (s) => seen.push('a ' + s) }, { process });
      signals.route({ SIGTERM: (s) => seen.push('b ' + s) });
      process.kill(process.pid, 'SIGINT');
      setTimeout(() => {
        process.kill(process.pid, 'SIGTERM');
        setTimeout(() => { console.log(seen.join(',')); process.exit(0); }, 100);
      }, 100);
    `);
    assert.deepEqual(ended, { stdout: 'a SIGINT,b SIGTERM\n', status: 0, signal: null });
  });

  it('release() gives the signals their default action back: the process ends by the signal', () => {
    const ended = run(`
      const signals = createSignalRouter({ SIGTERM: () => console.log('handled') }, { process });
      signals.release();
      process.kill(process.pid, 'SIGTERM');
      setTimeout(() => { console.log('survived'); process.exit(0); }, 2000);
    `);
    assert.deepEqual(ended, { stdout: '', status: null, signal: 'SIGTERM' });
  });
});

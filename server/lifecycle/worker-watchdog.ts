import type { Logger } from 'pino';
import type { WorkerEntry, WorkerState } from './worker-entry.js';

export interface WorkerWatchdogOptions {
  /** How often deadlines are checked. */
  readonly intervalMs: number;
}

export interface WorkerWatchdogDeps {
  readonly logger: Logger;
  readonly now: () => number;
  /** The live workers, read at every check. */
  readonly entries: () => Iterable<WorkerEntry>;
}

export interface WorkerWatchdog {
  stop(): void;
}

const overdueMessage: Record<WorkerState, string> = {
  starting: 'worker did not become ready in time; killing it',
  ready: 'worker missed its heartbeats; killing it',
  stopping: 'worker did not stop in time; killing it',
};

/**
 * Kills (SIGKILL) every worker that is past its deadline: a start that hangs, a ready worker whose event loop is stuck
 * (it holds its share of connections and the primary keeps routing connections to it), a drain that does not end.
 * So no state lasts for ever, and no wait on a worker's exit is unbounded. What the exit then means (a crash to
 * restart, a failed reload, a finished stop) is the primary's business.
 *
 * Silence is only counted while the primary itself was running to watch. When a check runs late, the primary was
 * not running either (the host, container or VM was paused, or the whole process group got SIGSTOP): every deadline
 * moves by that lateness, so a paused machine does not look like every worker hanging at once.
 */
export function createWorkerWatchdog(options: WorkerWatchdogOptions, deps: WorkerWatchdogDeps): WorkerWatchdog {
  const { logger, now } = deps;
  let lastCheckAt = now();

  function check(): void {
    const at = now();
    const lateMs = Math.max(0, at - lastCheckAt - options.intervalMs);
    lastCheckAt = at;
    if (lateMs > options.intervalMs)
      logger.warn({ lateMs }, 'the primary was not running (paused?); worker deadlines moved by as long');
    for (const entry of deps.entries()) {
      entry.deadlineAt += lateMs;
      if (at < entry.deadlineAt) continue;
      logger.error(
        { slot: entry.slot, workerPid: entry.worker.process.pid, state: entry.state, overdueMs: at - entry.deadlineAt },
        overdueMessage[entry.state],
      );
      entry.deadlineAt = Infinity; // one kill per worker: its exit follows
      entry.worker.process.kill('SIGKILL');
    }
  }

  const timer = setInterval(check, options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

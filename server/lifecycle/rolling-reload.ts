import type { Logger } from 'pino';
import type { WorkerEntry } from './worker-entry.js';

/** What the rolling reload may do with the primary's slots; the rules behind each step live in create-primary.ts. */
export interface ReloadControl {
  readonly slots: number;
  isShuttingDown(): boolean;
  /**
   * Runs before the first fork: re-reads what the new workers are sized from (MySQL's limits, the budget). False
   * refuses the reload (it says why), and the old workers keep serving as they are.
   */
  prepare(): Promise<boolean>;
  /** Whether a worker may be forked now without passing WORKERS + 1 live worker processes. */
  hasRoom(): boolean;
  /** Resolves at the next worker exit (each live worker has a deadline, so one comes). */
  nextExit(): Promise<void>;
  /** Forks the replacement for `slot`: the one surge worker. Call only right after `hasRoom()` said yes. */
  forkSurge(slot: number): WorkerEntry;
  /**
   * Hands `fresh`'s slot to it, stopping the worker it replaces first. Resolves when that one has exited (it is
   * killed if it has not SHUTDOWN_TIMEOUT_MS after being asked to stop); undefined if `fresh` cannot take the slot.
   */
  promote(fresh: WorkerEntry): Promise<void> | undefined;
}

/**
 * How a reload ended: every slot replaced, refused before any fork (prepare said no), aborted part way (a new
 * worker never became ready, or shutdown began), or skipped (one already runs, or the primary is shutting down).
 */
export type ReloadOutcome = 'completed' | 'refused' | 'aborted' | 'skipped';

export interface RollingReload {
  /** Replaces every slot's worker, one slot at a time. Ignored while one runs. */
  reload(): Promise<ReloadOutcome>;
}

/**
 * SIGHUP: first `prepare` (a refusal ends the reload there, before any fork); then per slot, fork the new worker (the
 * surge), wait until it is ready, give it the slot, stop the old one and wait for its exit before the next slot, so at
 * most one surge worker is alive at a time. If a new worker does not become ready (it exits, or the watchdog kills it
 * at its start deadline), the reload stops there and the old workers keep serving.
 */
export function createRollingReload(control: ReloadControl, deps: { readonly logger: Logger }): RollingReload {
  const { logger } = deps;
  let running: Promise<ReloadOutcome> | undefined;

  async function rollSlot(slot: number): Promise<boolean> {
    // Room appears when the previous slot's old worker (or a crashed one) has exited.
    while (!control.hasRoom()) {
      await control.nextExit();
      if (control.isShuttingDown()) return false;
    }
    const fresh = control.forkSurge(slot);
    const outcome = await Promise.race([
      fresh.ready.then(() => 'ready' as const),
      fresh.exited.then(() => 'exited' as const),
    ]);
    if (control.isShuttingDown()) return false;
    const oldExited = outcome === 'ready' ? control.promote(fresh) : undefined;
    if (!oldExited) {
      logger.error({ slot, outcome }, 'reload aborted: the new worker did not become ready; the old one keeps serving');
      return false;
    }
    await oldExited;
    return true;
  }

  return {
    reload() {
      if (control.isShuttingDown()) return Promise.resolve('skipped');
      if (running) {
        logger.warn('reload already in progress; ignoring this one');
        return Promise.resolve('skipped');
      }
      const run = (async (): Promise<ReloadOutcome> => {
        if (!(await control.prepare())) return 'refused';
        if (control.isShuttingDown()) return 'aborted';
        logger.info('rolling reload started');
        for (let slot = 0; slot < control.slots; slot++) {
          if (control.isShuttingDown() || !(await rollSlot(slot))) return 'aborted';
        }
        logger.info('rolling reload finished');
        return 'completed';
      })().finally(() => (running = undefined));
      running = run;
      return run;
    },
  };
}

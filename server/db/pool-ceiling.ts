import { DatabaseUnavailableError } from './db-errors.js';
import type { PooledConnection } from './pooled-connection.js';

/*
 * A pool's live ceiling (APP_REPLICAS=auto changes it while the pool serves) and the count of server threads it is
 * held against. tarn counts only what it hands out and what it is creating; a connection being closed (its server
 * thread not yet killed, or its COM_QUIT not yet answered) is no longer tarn's, but MySQL still counts it. So every
 * create first reserves room here: it waits until the connections that may still have a thread, opening or closing
 * ones included, are below the ceiling. That is what keeps a pool at or under its ceiling on the server by
 * construction, whatever tarn's bookkeeping says.
 *
 * Lowering never fails a request: idle connections above the new ceiling are closed at once, used ones when they come
 * home (`shouldRetire`). tarn declares its bounds protected but reads them afresh on every create and reap, so they
 * are changed in place.
 */

export interface PoolCeiling {
  current(): number;
  set(ceiling: number): void;
  /** Checked when a connection comes home: over the ceiling, it is closed instead of returned. */
  shouldRetire(pooled: PooledConnection): boolean;
  /** Closes a connection above the ceiling; tarn discards it (validation fails) the next time it is handed out. */
  retire(pooled: PooledConnection): void;
  /** Connections whose server thread may still exist: being opened, open, or being closed. */
  live(): number;
  /** Every connection that exists (admitted or not) until its close has settled. */
  readonly all: ReadonlySet<PooledConnection>;
  /**
   * Waits (until `deadlineAt` on the pool's clock) until one more connection fits under the ceiling and counts it as
   * opening; the returned function ends that (call it once the connection is `opened`, or its connect failed).
   */
  reserve(deadlineAt: number): Promise<() => void>;
  opened(pooled: PooledConnection): void;
  /** Its close has settled: it no longer counts, and a waiting create may go. */
  closed(pooled: PooledConnection): void;
}

interface Waiter {
  readonly resolve: (release: () => void) => void;
  readonly timer: NodeJS.Timeout;
}

export function createPoolCeiling(
  initial: number,
  deps: {
    readonly tarn: object;
    readonly idleMax: number;
    readonly now: () => number;
    /** The pool's one way to close a connection (connection-closer.ts through its bookkeeping). */
    readonly close: (pooled: PooledConnection, how: 'quit' | 'abandon') => Promise<void>;
  },
): PoolCeiling {
  const { tarn, idleMax, now, close } = deps;
  const all = new Set<PooledConnection>();
  const waiters: Waiter[] = [];
  let ceiling = initial;
  let opening = 0;

  const live = () => opening + all.size;

  /** Connections the pool means to keep: live ones not already condemned. */
  function kept(): number {
    let count = opening;
    for (const pooled of all) if (!pooled.dead) count++;
    return count;
  }

  function slot(): () => void {
    opening++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      opening--;
      wake();
    };
  }

  function wake(): void {
    while (waiters.length > 0 && live() < ceiling) {
      const waiter = waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(slot());
    }
  }

  function retire(pooled: PooledConnection): void {
    pooled.dead = true;
    pooled.closeReason = 'ceiling';
    void close(pooled, 'quit');
  }

  return {
    all,
    current: () => ceiling,
    set(next) {
      ceiling = Math.max(0, next);
      const bounds = tarn as { max: number; min: number };
      bounds.max = Math.max(1, ceiling);
      bounds.min = Math.min(idleMax, bounds.max);
      let excess = kept() - ceiling;
      for (const pooled of all) {
        if (pooled.held || pooled.closing) continue;
        // Broken and idle: tarn would discard it only at the next acquire or reap; close it now so it is not waited for.
        if (pooled.dead) void close(pooled, 'abandon');
        else if (excess > 0) {
          retire(pooled);
          excess--;
        }
      }
      wake();
    },
    shouldRetire: (pooled) => !pooled.dead && kept() > ceiling,
    retire,
    live,
    reserve(deadlineAt) {
      if (waiters.length === 0 && live() < ceiling) return Promise.resolve(slot());
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          resolve,
          timer: setTimeout(
            () => {
              waiters.splice(waiters.indexOf(waiter), 1);
              reject(new DatabaseUnavailableError('acquire_timeout'));
            },
            Math.max(0, deadlineAt - now()),
          ),
        };
        waiters.push(waiter);
      });
    },
    opened(pooled) {
      all.add(pooled);
    },
    closed(pooled) {
      all.delete(pooled);
      wake();
    },
  };
}

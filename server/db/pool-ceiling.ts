import type { PooledConnection } from './pooled-connection.js';

/*
 * A pool's live ceiling (APP_REPLICAS=auto changes it while the pool serves). tarn declares its bounds protected,
 * but reads them afresh on every create and reap, so they are changed in place. Lowering never fails a request:
 * idle connections above the new ceiling are closed at once, used ones when they come home (`shouldRetire`).
 */

export interface PoolCeiling {
  current(): number;
  set(ceiling: number): void;
  /** Checked when a connection comes home: over the ceiling, it is closed instead of returned. */
  shouldRetire(pooled: PooledConnection): boolean;
  /** Closes a connection above the ceiling; tarn discards it (validation fails) the next time it is handed out. */
  retire(pooled: PooledConnection): void;
  /** Connections whose server thread may still exist: open (used, idle, being retired) or being opened. */
  live(): number;
}

export function createPoolCeiling(
  initial: number,
  deps: {
    readonly tarn: { numPendingCreates(): number };
    readonly all: ReadonlySet<PooledConnection>;
    readonly idleMax: number;
  },
): PoolCeiling {
  const { tarn, all, idleMax } = deps;
  let ceiling = initial;

  /** Connections the pool means to keep: live ones not already condemned. */
  function kept(): number {
    let count = tarn.numPendingCreates();
    for (const pooled of all) if (!pooled.dead) count++;
    return count;
  }

  function retire(pooled: PooledConnection): void {
    pooled.dead = true;
    pooled.closeReason = 'ceiling';
    void pooled.connection
      .end()
      .catch(() => pooled.connection.destroy())
      .finally(() => (pooled.gone = true));
  }

  return {
    current: () => ceiling,
    set(next) {
      ceiling = Math.max(0, next);
      const bounds = tarn as unknown as { max: number; min: number };
      bounds.max = Math.max(1, ceiling);
      bounds.min = Math.min(idleMax, bounds.max);
      let excess = kept() - ceiling;
      for (const pooled of all) {
        if (pooled.held || pooled.gone) continue;
        // Broken and idle: tarn would discard it only at the next acquire or reap; close it now so it is not waited for.
        if (pooled.dead) {
          pooled.connection.destroy();
          pooled.gone = true;
        } else if (excess > 0) {
          retire(pooled);
          excess--;
        }
      }
    },
    shouldRetire: (pooled) => !pooled.dead && kept() > ceiling,
    retire,
    live() {
      let count = tarn.numPendingCreates();
      for (const pooled of all) if (!pooled.gone) count++;
      return count;
    },
  };
}

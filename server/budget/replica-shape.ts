/**
 * What one replica (a primary and its workers) may hold on MySQL, in the only shapes it can use: its primary's own
 * connections plus (workers + reload surge) pools of `ceiling` each. A grant is always exactly what its pools can
 * reach: `0` (no pool may open) or `primaryConnections + pools × c` with c ≥ 1.
 */

/**
 * Connections the primary holds for itself: one, that reads MySQL's status for /metrics. With APP_REPLICAS=auto it is
 * the coordination connection, which reads the status too, so a replica waiting for a grant still exports mysql_up.
 */
export const primaryConnections = 1;

/**
 * Extra workers that may run at once per replica. A rolling reload starts the new worker before the old one stops,
 * so for a moment there are `workers + 1` pools; the budget pays for that slot up front.
 */
export const reloadSurgeWorkers = 1;

export interface ReplicaShape {
  /** Connections the primary holds itself. */
  readonly primaryConnections: number;
  /** Pools that may be open at once: workers + reload surge. */
  readonly pools: number;
  /** DB_POOL_MAX: no pool grows past it, however much room there is. */
  readonly poolMax: number;
}

/** The shape of a replica with `workers` workers whose pools stop at `poolMax`. */
export function replicaShape(options: { workers: number; poolMax: number }): ReplicaShape {
  return {
    primaryConnections,
    pools: options.workers + reloadSurgeWorkers,
    poolMax: options.poolMax,
  };
}

/** The grant that lets every pool of this replica reach `ceiling`. */
export function grantFor(shape: ReplicaShape, ceiling: number): number {
  return ceiling < 1 ? 0 : shape.primaryConnections + shape.pools * ceiling;
}

/** The per-pool ceiling a grant pays for (0 below one connection per pool). */
export function ceilingFor(shape: ReplicaShape, grant: number): number {
  const ceiling = Math.floor((grant - shape.primaryConnections) / shape.pools);
  return Math.max(0, Math.min(shape.poolMax, ceiling));
}

/** The largest grant of the allowed shape that is not above `amount`. */
export const quantize = (shape: ReplicaShape, amount: number): number => grantFor(shape, ceilingFor(shape, amount));

/** What a replica would use with all its pools at DB_POOL_MAX: it never asks for more. */
export const wantedBy = (shape: ReplicaShape): number => grantFor(shape, shape.poolMax);

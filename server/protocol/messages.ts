import type { Config } from '../config/config.js';
import { deepFreeze } from '../config/load-config.js';
import type { ConnectionBudget } from '../budget/connection-budget.js';

/** Everything a worker needs, decided once by the primary and handed over in the fork environment. */
export interface WorkerSpec {
  readonly config: Config;
  readonly budget: ConnectionBudget;
  /** Stable 0-based position; a replacement worker takes the slot (and `worker` label) of the one it replaces. */
  readonly slot: number;
  /** APP_REPLICAS=auto: the claim its pool connections register under (budget.perWorker is then the live ceiling). */
  readonly replicaId?: string | undefined;
}

export const workerSpecVariable = 'APP_WORKER_SPEC';

export function encodeWorkerSpec(spec: WorkerSpec): string {
  return JSON.stringify(spec);
}

export function decodeWorkerSpec(raw: string | undefined): WorkerSpec {
  if (raw === undefined)
    throw new Error(`${workerSpecVariable} is missing: workers are started by the primary, not directly`);
  return deepFreeze(JSON.parse(raw) as WorkerSpec);
}

/** Primary → worker. */
/**
 * `stop`: the whole service is stopping (SIGTERM): honour the readiness delay so the load balancer drains first.
 * `replace`: a rolling reload replaces this worker while the others keep serving: drain at once.
 */
export type ShutdownKind = 'stop' | 'replace';
export type PrimaryMessage =
  | { readonly type: 'shutdown'; readonly kind: ShutdownKind }
  /** APP_REPLICAS=auto: the pool's new ceiling, and the claim new connections register under. */
  | { readonly type: 'pool:ceiling'; readonly ceiling: number; readonly replicaId: string | undefined }
  /** A crashed worker's restart is ready: ask the connections held now to reconnect (connection-rebalance.ts). */
  | { readonly type: 'connections:rebalance'; readonly slot: number };
/** Worker → primary. (The metrics requests and answers on the same channel are server/metrics/worker-metrics-ipc.ts.) */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'heartbeat' }
  /** The pool holds no more than `ceiling` connections on the server (closed ones are gone, not just released). */
  | { readonly type: 'pool:settled'; readonly ceiling: number };

/**
 * How often a ready worker sends its heartbeat: four chances to be heard within the primary's heartbeat timeout,
 * never more often than every 50 ms.
 */
export function heartbeatIntervalMs(heartbeatTimeoutMs: number): number {
  return Math.max(50, Math.floor(heartbeatTimeoutMs / 4));
}

function hasType<T extends string>(value: unknown, type: T): value is { type: T } {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === type;
}

export const isReadyMessage = (value: unknown): value is { type: 'ready' } => hasType(value, 'ready');
export const isShutdownMessage = (value: unknown): value is Extract<PrimaryMessage, { type: 'shutdown' }> =>
  hasType(value, 'shutdown');
export const isCeilingMessage = (value: unknown): value is Extract<PrimaryMessage, { type: 'pool:ceiling' }> =>
  hasType(value, 'pool:ceiling') && typeof (value as { ceiling?: unknown }).ceiling === 'number';
export const isRebalanceMessage = (
  value: unknown,
): value is Extract<PrimaryMessage, { type: 'connections:rebalance' }> =>
  hasType(value, 'connections:rebalance') && typeof (value as { slot?: unknown }).slot === 'number';
export const isSettledMessage = (value: unknown): value is Extract<WorkerMessage, { type: 'pool:settled' }> =>
  hasType(value, 'pool:settled') && typeof (value as { ceiling?: unknown }).ceiling === 'number';

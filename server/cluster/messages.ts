import type { Config } from '../config/config.js';
import { deepFreeze } from '../config/load-config.js';
import type { ConnectionBudget } from '../db/connection-budget.js';

/** Everything a worker needs, decided once by the primary and handed over in the fork environment. */
export interface WorkerSpec {
  readonly config: Config;
  readonly budget: ConnectionBudget;
  /** Stable 0-based position; a replacement worker takes the slot (and `worker` label) of the one it replaces. */
  readonly slot: number;
}

export const workerSpecVariable = 'APP_WORKER_SPEC';

export function encodeWorkerSpec(spec: WorkerSpec): string {
  return JSON.stringify(spec);
}

export function decodeWorkerSpec(raw: string | undefined): WorkerSpec {
  if (raw === undefined) throw new Error(`${workerSpecVariable} is missing: workers are started by the primary, not directly`);
  return deepFreeze(JSON.parse(raw) as WorkerSpec);
}

/** Primary → worker. */
export type PrimaryMessage = { readonly type: 'shutdown' };
/** Worker → primary. */
export type WorkerMessage = { readonly type: 'ready' };

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'ready';
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'shutdown';
}

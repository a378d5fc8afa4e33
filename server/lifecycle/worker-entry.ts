import type { Worker } from 'node:cluster';

/** A worker process's state in the primary: `starting` → `ready` → `stopping` → (exited, forgotten). */
export type WorkerState = 'starting' | 'ready' | 'stopping';

/** What the primary knows about one live worker process. */
export interface WorkerEntry {
  readonly worker: Worker;
  readonly slot: number;
  state: WorkerState;
  /**
   * When the watchdog kills this worker if it is still in `state`: its start deadline while starting, its heartbeat
   * deadline while ready (pushed back by every message), its stop deadline while stopping.
   */
  deadlineAt: number;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
}

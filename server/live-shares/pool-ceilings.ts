import cluster, { type Worker } from 'node:cluster';
import type { PrimaryInbox, PrimaryMessage } from '../protocol/messages.js';

/*
 * The primary's side of live pool ceilings (APP_REPLICAS=auto). A raise takes effect at once; a lower ceiling only
 * counts once the worker confirms its pool holds no more (idle connections above it closed, used ones destroyed as
 * they came home). `bound()` is the most any worker's pool may hold right now: what the replica's grant must still
 * cover. A worker forked now starts at the current ceiling; a worker that exited holds nothing.
 */

export interface PoolCeilings {
  /** The ceiling workers are told to keep (and new workers start with). */
  current(): number;
  /** The claim new pool connections register under. */
  replicaId(): string | undefined;
  /** Tells every live worker; `replicaId` changes when the replica re-joins under a new claim. */
  set(ceiling: number, replicaId: string | undefined): void;
  /** For the spec of a worker about to be forked: what it starts with (its pool's bound until it confirms lower). */
  forFork(): { ceiling: number; replicaId: string | undefined };
  /** The highest ceiling a live worker's pool may still be at (0 without workers). */
  bound(): number;
  stop(): void;
}

export function createPoolCeilings(
  initial: { ceiling: number; replicaId: string | undefined },
  deps: { readonly inbox: PrimaryInbox<Worker> },
): PoolCeilings {
  let ceiling = initial.ceiling;
  let replicaId = initial.replicaId;
  const bounds = new Map<number, number>(); // cluster worker id → the most its pool may hold
  const workers = new Map<number, Worker>();
  // node:cluster emits 'fork' a tick after fork() built the spec, and the ceiling may change in between: each fork's
  // starting ceiling waits here, in fork order, for its worker.
  const forking: number[] = [];

  const onFork = (worker: Worker) => {
    const started = forking.shift() ?? ceiling;
    workers.set(worker.id, worker);
    bounds.set(worker.id, Math.max(started, ceiling));
    if (started !== ceiling) send(worker);
  };
  const onExit = (worker: Worker) => {
    workers.delete(worker.id);
    bounds.delete(worker.id);
  };
  // Confirmed at or below `ceiling`; a raise sent after it may let the pool grow again up to the current one.
  const stopSettled = deps.inbox.on('pool:settled', (message, worker) => {
    if (bounds.has(worker.id))
      bounds.set(worker.id, Math.min(bounds.get(worker.id)!, Math.max(message.ceiling, ceiling)));
  });
  cluster.on('fork', onFork);
  cluster.on('exit', onExit);

  function send(worker: Worker): void {
    if (!worker.isConnected()) return;
    try {
      worker.send({ type: 'pool:ceiling', ceiling, replicaId } satisfies PrimaryMessage);
    } catch {
      // The channel closed under us: the worker is exiting, and an exited worker holds nothing.
    }
  }

  return {
    current: () => ceiling,
    forFork() {
      forking.push(ceiling);
      return { ceiling, replicaId };
    },
    replicaId: () => replicaId,
    set(next, id) {
      if (next === ceiling && id === replicaId) return;
      ceiling = next;
      replicaId = id;
      for (const [workerId, bound] of bounds) bounds.set(workerId, Math.max(bound, ceiling));
      for (const worker of workers.values()) send(worker);
    },
    bound: () => Math.max(0, ...bounds.values()),
    stop() {
      cluster.off('fork', onFork);
      cluster.off('exit', onExit);
      stopSettled();
    },
  };
}

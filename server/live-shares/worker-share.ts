import type { Connection } from 'mysql2/promise';
import type { DbPool } from '../db/create-db-pool.js';
import { registerConnection } from './replica-claims.js';
import type { PrimaryMessage, WorkerMessage, WorkerSpec } from '../protocol/messages.js';

/*
 * A worker's side of live ceilings: applies each ceiling the primary sends to the pool (APP_REPLICAS=auto: the
 * replica's share; a fixed budget: computed again after a failover, follow-fixed-budget.ts), and confirms once the
 * pool holds no more than that on the server, which is when the primary may publish a lower grant. With
 * APP_REPLICAS=auto new pool connections register under the current claim; with no claim (fenced) they are refused.
 */

export interface WorkerShare {
  /** The pool's `onConnect` with APP_REPLICAS=auto; undefined with a fixed budget (nothing to register). */
  readonly onConnect: ((connection: Connection) => Promise<boolean>) | undefined;
  /** Ceiling messages may arrive before the pool exists: the latest is applied once it is attached. */
  handle(message: Extract<PrimaryMessage, { type: 'pool:ceiling' }>): void;
  attach(db: DbPool): void;
}

const settleCheckMs = 25;

export function createWorkerShare(spec: WorkerSpec, send: (message: WorkerMessage) => void): WorkerShare {
  let ceiling = spec.budget.perWorker;
  let replicaId = spec.replicaId;
  let db: DbPool | undefined;
  let checking: NodeJS.Timeout | undefined;

  function confirmWhenSettled(): void {
    if (!db || checking) return;
    const check = () => {
      checking = undefined;
      if (!db) return;
      if (db.liveConnections() <= ceiling) send({ type: 'pool:settled', ceiling });
      else checking = setTimeout(check, settleCheckMs);
    };
    check();
  }

  return {
    onConnect:
      spec.config.cluster.replicas === 'auto'
        ? async (connection) => {
            const id = replicaId;
            return id !== undefined && (await registerConnection(connection, id));
          }
        : undefined,
    handle(message) {
      ceiling = message.ceiling;
      replicaId = message.replicaId;
      db?.setCeiling(ceiling);
      confirmWhenSettled();
    },
    attach(pool) {
      db = pool;
      if (pool.state().max !== ceiling) pool.setCeiling(ceiling);
      confirmWhenSettled();
    },
  };
}

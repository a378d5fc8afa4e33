import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { ReplicaShape } from '../../server/budget/replica-shape.js';
import { createPoolCeilings, type PoolCeilings } from '../../server/live-shares/pool-ceilings.js';
import { createReplicaCoordinator, type ReplicaCoordinator } from '../../server/live-shares/replica-coordinator.js';
import type { DbConnectionOptions } from '../../server/config/config.js';
import { createInbox, readWorkerMessage } from '../../server/protocol/messages.js';
import { createConnectionCloser } from '../../server/db/connection-closer.js';
import { createThreadKiller } from '../../server/db/thread-killer.js';

/*
 * One replica's coordinator (APP_REPLICAS=auto), in the test process: the production coordinator and pool ceilings
 * against a real MariaDB, without workers (so its pools "confirm" a lower ceiling at once). Its log lines and what it
 * reported are kept for the assertions.
 */

export interface InProcessReplica {
  readonly name: string;
  readonly coordinator: ReplicaCoordinator;
  readonly ceilings: PoolCeilings;
  readonly logs: Record<string, unknown>[];
  readonly counts: { fenced: number; renewFailed: number };
  /** The first join and the wait for a first share (start()). */
  readonly started: Promise<void>;
  joins(): number;
  leave(): Promise<void>;
}

export function startReplica(
  name: string,
  connection: DbConnectionOptions,
  options: {
    shape: ReplicaShape;
    workers: number;
    reservedConnections: number;
    heartbeatMs?: number;
    leaseMs?: number;
  },
): InProcessReplica {
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info', base: { replica: name } },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const counts = { fenced: 0, renewFailed: 0 };
  // No workers in the test process: nothing is ever delivered to this inbox.
  const ceilings = createPoolCeilings({ ceiling: 0, replicaId: undefined }, { inbox: createInbox(readWorkerMessage) });
  const killer = createThreadKiller({ connection, timeoutMs: 1000 }, { logger });
  const closer = createConnectionCloser({ quitTimeoutMs: 1000 }, { killer, logger });
  const coordinator = createReplicaCoordinator(
    {
      connection,
      shape: options.shape,
      workers: options.workers,
      reservedConnections: options.reservedConnections,
      heartbeatMs: options.heartbeatMs ?? 1000,
      leaseMs: options.leaseMs ?? 5000,
    },
    {
      logger,
      ceilings,
      closer,
      observer: {
        observed: () => {},
        shareChanged: () => {},
        renewFailed: () => counts.renewFailed++,
        fenced: () => counts.fenced++,
      },
    },
  );
  const started = coordinator.start(10_000);
  started.catch(() => {});
  return {
    name,
    coordinator,
    ceilings,
    logs,
    counts,
    started,
    joins: () => logs.filter((line) => line['msg'] === 'replica joined: announced with no grant yet').length,
    leave: () => coordinator.leave(3000),
  };
}

/** Polls `check` every 100 ms until it holds or `ms` have passed; true if it held. */
export async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const giveUpAt = Date.now() + ms; Date.now() < giveUpAt; await sleep(100)) if (await check()) return true;
  return check();
}

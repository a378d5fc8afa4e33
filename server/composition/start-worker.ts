import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { defaultThrottlePolicy } from '../auth/login-throttle.js';
import { schedulePurge } from '../db/purge-expired.js';
import type { DbPool } from '../db/create-db-pool.js';
import { composeWorker } from './compose-worker.js';
import { createConnectionRebalance } from '../listening/connection-rebalance.js';
import { listenApi, type ApiListener } from '../listening/listen-api.js';
import type { ListenSocketSource } from '../listening/listen-socket-handover.js';
import type { ShutdownKind, WorkerSpec } from '../protocol/messages.js';
import type { WorkerShare } from '../live-shares/worker-share.js';

export interface RunningWorker {
  readonly server: Server;
  readonly db: DbPool;
  /** This worker's metrics; the primary asks for them over IPC. */
  readonly registry: Registry;
  /** Stop accepting, finish in-flight requests, close the pool. Idempotent; resolves when drained. */
  shutdown(reason: string, kind: ShutdownKind): Promise<void>;
  /** The listening sockets, for those of another slot lent while it has no worker (listen-socket-handover.ts). */
  readonly listener: Pick<ApiListener, 'adopt' | 'release'>;
  /** Asks every connection held now to reconnect after its next response (connection-rebalance.ts). */
  rebalance(reason: string): void;
}

// Connections stay open longer than typical load balancer idle timeouts (60 s), so the balancer closes first.
const keepAliveTimeoutMs = 65_000;
// How long a keep-alive socket that is idle when a drain starts may still bring one last request (answered with
// `Connection: close`) before it is closed. Closing it at once races a client that is sending on it right then.
const idleGraceMs = 1000;
// node:cluster's round-robin primary may hand this worker a connection until it has processed our close; a worker
// that exits before reading that handoff leaves the connection open in the primary, unanswered, until the primary
// exits (seen under load during rolling reloads). Staying this long after closing lets such a connection be read
// and bounced back to a live worker.
const handoffGraceMs = 250;

export interface WorkerLoggers {
  readonly logger: Logger;
  /** The buffered request log (createRequestLogger). */
  readonly requestLog: Logger;
  /** The live ceiling, and with APP_REPLICAS=auto the registration of new pool connections. */
  readonly share?: WorkerShare | undefined;
  /** HTTP_ACCEPT=reuseport in a cluster: the slot's listening sockets, kept by the primary across workers. */
  readonly listenSockets?: ListenSocketSource | undefined;
}

/** A worker: its parts (composeWorker) served on the cluster's port, with a purge job and a drain. */
export async function startWorker(
  spec: WorkerSpec,
  { logger, requestLog, share, listenSockets }: WorkerLoggers,
): Promise<RunningWorker> {
  const { config, budget } = spec;
  let draining: Promise<void> | undefined;
  const { app, db, registry } = await composeWorker(
    { config, poolMax: budget.perWorker, slot: spec.slot },
    {
      logger,
      requestLog,
      isShuttingDown: () => draining !== undefined,
      ...(share?.onConnect ? { onConnect: share.onConnect } : {}),
    },
  );
  share?.attach(db);
  const server = createServer(
    { keepAliveTimeout: keepAliveTimeoutMs, headersTimeout: 20_000, requestTimeout: 30_000 },
    app.callback(),
  );
  const connections = createConnectionRebalance(server);
  const listener = await listenApi(server, config.http, listenSockets);

  // One worker keeps the session and throttle tables small; the others need not repeat it.
  const stopPurge =
    spec.slot === 0
      ? schedulePurge(db, logger, { intervalMs: 10 * 60_000, throttleWindowMs: defaultThrottlePolicy.windowMs })
      : () => {};

  async function drain(reason: string, kind: ShutdownKind): Promise<void> {
    // Only when the whole service stops: during a rolling reload the other workers keep the host ready.
    const readinessDelayMs = kind === 'stop' ? config.cluster.readinessDelayMs : 0;
    logger.info({ reason, readinessDelayMs }, 'worker draining');
    stopPurge();
    // /readyz is failing from now on; keep accepting until the load balancer has noticed and stopped
    // sending new connections, so none of them is reset by the listener closing under it.
    if (readinessDelayMs > 0) await sleep(readinessDelayMs);
    // Leave the primary a margin to see a clean exit before its own deadline kills us.
    const deadlineMs = Math.max(100, config.cluster.shutdownTimeoutMs - readinessDelayMs - 1000);
    const deadline = setTimeout(() => {
      logger.warn('drain deadline reached; closing remaining connections');
      server.closeAllConnections();
    }, deadlineMs);
    // Every response written from now on, including those of requests already running, says `Connection: close`
    // (create-app.ts), so keep-alive sockets do not hold the drain open until the deadline.
    // Stop accepting. http.Server#close would also destroy idle keep-alive sockets at once, and a client sending its
    // next request on one at that moment gets ECONNRESET (seen during rolling reloads). net.Server#close leaves them
    // open; each may carry one more request (answered with `Connection: close`) before the sweep closes the rest.
    const closed = listener.close();
    const handoffGrace = sleep(handoffGraceMs);
    const idleSweep = setTimeout(() => server.closeIdleConnections(), Math.min(idleGraceMs, deadlineMs / 2));
    await closed;
    await handoffGrace;
    clearTimeout(idleSweep);
    clearTimeout(deadline);
    await db.end();
    logger.info('worker drained');
  }

  return {
    server,
    db,
    registry,
    listener,
    rebalance(reason) {
      // A draining worker already closes every connection after its next response.
      if (draining) return;
      logger.info({ reason, connections: connections.rebalance() }, 'asking connections to reconnect');
    },
    shutdown(reason, kind) {
      draining ??= drain(reason, kind);
      return draining;
    },
  };
}

import cluster, { type Worker } from 'node:cluster';
import { resolve } from 'node:path';
import dotenv from 'dotenv';
import type { Logger } from 'pino';
import { createPrimary } from './lifecycle/create-primary.js';
import { createSignalRouter } from './lifecycle/signal-router.js';
import {
  decodeWorkerSpec,
  heartbeatIntervalMs,
  createInbox,
  readPrimaryMessage,
  readWorkerMessage,
  workerSpecVariable,
  type PrimaryInbox,
  type ShutdownKind,
  type WorkerInbox,
  type WorkerMessage,
} from './protocol/messages.js';
import { prepareDatabase, recomputeBudget } from './composition/prepare-database.js';
import { createListenSocketKeeper, isListenHandle, primaryListenSockets } from './listening/listen-socket-handover.js';
import { startReplicaShare, type ReplicaShare } from './live-shares/start-replica-share.js';
import { startWorker, type RunningWorker } from './composition/start-worker.js';
import { createWorkerShare } from './live-shares/worker-share.js';
import { followFixedBudget } from './composition/follow-fixed-budget.js';
import { startServerWatch } from './composition/server-watch.js';
import type { Config } from './config/config.js';
import { loadConfig } from './config/load-config.js';
import { BudgetError } from './budget/connection-budget.js';
import { createConnectionCloser } from './db/connection-closer.js';
import { createThreadKiller } from './db/thread-killer.js';
import { createLocalDatabase } from './local-database/create-local-database.js';
import { createLogger, createRequestLogger } from './log/create-logger.js';
import { createOwnStatusConnection, type StatusSource } from './metrics/mysql-status-metrics.js';
import { startClusterMetrics, type ClusterMetrics } from './metrics/start-cluster-metrics.js';
import { answerMetricsRequests } from './metrics/worker-metrics-ipc.js';

/*
 * The composition root: the only module that touches process.env, process signals and process.exit.
 * The primary reads .env once and validates it; workers receive the result through the fork environment
 * and never read .env or process.env themselves (docs/configuration.md).
 */

// What a stop keeps, of SHUTDOWN_TIMEOUT_MS, for leaving the replicas' table and closing metrics after the drain.
const stopTailMs = 1500;
const metricsCloseMs = 200;
// How long MySQL has to close one of the primary's connections after COM_QUIT before it is abandoned.
const primaryQuitTimeoutMs = 1000;
// dist/server/main.js → the project's folder.
const projectRoot = resolve(__dirname, '../..');
// How often the primary asks which server takes writes, and how long it waits for the answer.
const serverWatchIntervalMs = 1000;
const serverWatchTimeoutMs = 500;

async function runPrimary(): Promise<void> {
  dotenv.config({ quiet: true });
  const config = configOrExit();
  const logger = createLogger({ level: config.log.level, base: { role: 'primary' } });
  // `npm start` without DATABASE_URL and with nothing at the default address (a fresh machine): a MariaDB of our own.
  const localDatabase = createLocalDatabase(
    config,
    { dir: resolve(projectRoot, 'var/mariadb'), aptGetScript: resolve(projectRoot, 'scripts/apt-get.sh') },
    { logger },
  );
  // However the primary ends (a failed start included), a local MariaDB it started ends too.
  process.on('exit', () => localDatabase.signalStop());
  // Until the drain below is in place, SIGTERM, Ctrl-C or a hang-up ends the start by the signal itself, as their
  // default action would; but a local MariaDB, which nothing would stop afterwards, is told to stop first.
  const endStart = (signal: NodeJS.Signals) => {
    localDatabase.signalStop();
    signals.release();
    process.kill(process.pid, signal);
  };
  const signals = createSignalRouter({ SIGTERM: endStart, SIGINT: endStart, SIGHUP: endStart }, { process });
  await localDatabase.start().catch((error: unknown) => fail(logger, error, 'cannot start a local MariaDB'));
  // Every worker's messages, through one dispatcher (server/protocol/messages.ts).
  const inbox: PrimaryInbox<Worker> = createInbox(readWorkerMessage);
  cluster.on('message', (worker, message, handle) => inbox.deliver(message, worker, handle));
  // Before the first fork: workers accept on the shared socket themselves (`shared`), or the primary accepts and hands
  // each connection over (round-robin, node's default); `reuseport` workers bind their own sockets either way.
  cluster.schedulingPolicy = config.http.accept === 'shared' ? cluster.SCHED_NONE : cluster.SCHED_RR;
  // The primary's one rule for giving up a connection: closed, and its server thread killed (connection-closer.ts).
  const closer = createConnectionCloser(
    { quitTimeoutMs: primaryQuitTimeoutMs },
    {
      killer: createThreadKiller(
        { connection: config.db.connection, timeoutMs: Math.max(1000, config.db.acquireTimeoutMs) },
        { logger },
      ),
      logger,
    },
  );
  // Replaced by an accepted SIGHUP: the workers forked from then on are sized from MySQL's limits at that moment.
  const prepared = await prepareDatabase(config, { logger, closer }).catch((error: unknown) =>
    fail(logger, error, 'cannot start'),
  );
  let { budget } = prepared;
  // APP_REPLICAS=auto: the share is agreed live with the other replicas before any worker is forked.
  // Metrics start after the share is agreed; the coordinator reports to them once they exist.
  let liveMetrics: ClusterMetrics | undefined;
  const share: ReplicaShare | undefined =
    config.cluster.replicas === 'auto'
      ? await startReplicaShare(config, budget, {
          logger,
          closer,
          inbox,
          // Metrics start after the share is agreed; until then what the coordinator observes is not exported.
          observer: {
            observed: (next) => liveMetrics?.replicas.replicaObserved(next),
            shareChanged: (direction) => liveMetrics?.replicas.shareChanged(direction),
            renewFailed: () => liveMetrics?.replicas.leaseRenewFailed(),
            fenced: () => liveMetrics?.replicas.fenced(),
          },
        })
      : undefined;
  if (share) budget = share.coordinator.budget();
  async function prepareReload(): Promise<boolean> {
    // The live share follows MySQL's limits on every heartbeat already; new workers start at the current ceiling.
    if (share) return true;
    try {
      budget = await recomputeBudget(config, { logger, closer });
    } catch (error) {
      const why =
        error instanceof BudgetError
          ? 'the connection budget does not fit'
          : "MySQL's connection limits could not be read";
      logger.error({ err: error }, `reload refused: ${why}; the old workers keep serving`);
      return false;
    }
    // The gauges describe the budget the workers are being replaced with from now on.
    metrics.budgetChanged(budget);
    return true;
  }
  const primary = createPrimary(
    {
      workers: config.cluster.workers,
      shutdownTimeoutMs: config.cluster.shutdownTimeoutMs,
      heartbeatTimeoutMs: config.cluster.heartbeatTimeoutMs,
      workerEnv: { UV_THREADPOOL_SIZE: String(config.auth.threadPoolSize) },
    },
    {
      logger,
      spec: (slot) => (share ? share.spec(slot) : { config, budget, slot }),
      onWorkerRestart: (slot) => metrics.workerRestarted(slot),
      prepareReload,
      inbox,
      ...(config.http.accept === 'reuseport' ? { listenSockets: createListenSocketKeeper() } : {}),
    },
  );
  // The primary's one connection: MySQL's status for /metrics, and the server watch.
  const statusSource: StatusSource = share
    ? {
        query: (sql, timeoutMs) => share.coordinator.query(sql, timeoutMs),
        reconnect: () => share.coordinator.reconnect(),
        close: async () => {},
      }
    : createOwnStatusConnection({ connection: config.db.connection }, { closer });
  const metrics: ClusterMetrics = await startClusterMetrics(config, budget, {
    logger,
    counts: () => primary.counts(),
    workers: () => primary.workers(),
    inbox,
    statusSource,
  }).catch((error: unknown) => fail(logger, error, `cannot serve /metrics on port ${config.metrics.port}`));
  liveMetrics = metrics;
  // Which server takes writes; with a fixed budget, a failover sizes the pools from the new primary's limits (with
  // APP_REPLICAS=auto the coordinator reads them every beat already).
  const watch = config.db.followPrimary
    ? startServerWatch(
        { intervalMs: serverWatchIntervalMs, timeoutMs: serverWatchTimeoutMs, serverId: prepared.serverId },
        {
          source: statusSource,
          logger,
          failoverSeen: () => metrics.failoverSeen(),
          onNewPrimary: share
            ? undefined
            : (limits) => {
                const next = followFixedBudget(config, limits, { logger, workers: () => primary.workers() });
                if (!next) return;
                budget = next;
                metrics.budgetChanged(budget);
              },
        },
      )
    : undefined;
  // A stop ends within SHUTDOWN_TIMEOUT_MS whatever MySQL does: the workers drain for most of it, then the claim is
  // deleted (the grant is free for the others at once) and metrics, which kept answering, close last. Whatever is
  // still running at the deadline is killed; an undeleted claim expires on its own.
  let stopping = false;
  const stop = (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    watch?.stop();
    const timeoutMs = config.cluster.shutdownTimeoutMs;
    const deadlineAt = Date.now() + timeoutMs;
    setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown deadline reached; exiting');
      for (const { worker } of primary.workers()) worker.process.kill('SIGKILL');
      process.exit(1);
    }, timeoutMs).unref();
    const finishMs = Math.min(stopTailMs, Math.floor(timeoutMs / 4));
    void primary
      .shutdown(reason, timeoutMs - finishMs)
      .then(async (drained) => {
        await share?.coordinator.leave(Math.max(0, deadlineAt - Date.now() - metricsCloseMs));
        return code || drained;
      })
      // Metrics close last, then the local MariaDB (if any) stops.
      .then((exitCode) =>
        metrics
          .close()
          .finally(() => localDatabase.stop())
          .finally(() => process.exit(exitCode)),
      );
  };
  signals.route({
    SIGTERM: stop,
    SIGINT: stop,
    SIGHUP: () => void primary.reload().then((outcome) => metrics.reloadEnded(outcome)),
  });
  void primary.fatal.then((code) => stop('crash loop', code));
  if (!(await primary.start())) return;
  logger.info(
    { workers: config.cluster.workers, port: config.http.port, perWorkerConnections: budget.perWorker },
    'cluster ready',
  );
}

async function runWorker(): Promise<void> {
  // Signals can reach the whole process group (a terminal hang-up, `systemctl kill`, Ctrl-C): only the primary acts on
  // SIGHUP (a rolling reload) and SIGINT (a drain it coordinates). Installed before anything else can fail or wait;
  // a hang-up in the first moments of a worker's life (while its modules load) still ends it, and it is restarted
  // like any crash.
  process.on('SIGHUP', () => {});
  process.on('SIGINT', () => {});
  const spec = decodeWorkerSpec(process.env[workerSpecVariable]);
  const base = { role: 'worker', worker: spec.slot };
  const logger = createLogger({ level: spec.config.log.level, base });
  const requestLog = createRequestLogger({
    level: spec.config.log.level,
    base,
    flushIntervalMs: spec.config.log.requestFlushMs,
  });
  // Every exit but SIGKILL passes here (process.exit, the end of the event loop, an uncaught exception).
  process.on('exit', () => requestLog.flush());
  // The primary's messages, through one dispatcher (server/protocol/messages.ts).
  const inbox: WorkerInbox = createInbox(readPrimaryMessage);
  process.on('message', (message: unknown, handle: unknown) => inbox.deliver(message, handle));
  const send = (message: WorkerMessage, handle?: unknown) => {
    if (process.connected) process.send?.(message, handle as never);
  };
  // Answered from the start, with no series until the worker has its registry.
  let registry: RunningWorker['registry'] | undefined;
  answerMetricsRequests(inbox, send, () => registry);
  // Live pool ceilings: the replica's share (APP_REPLICAS=auto), or a fixed budget computed again after a failover.
  const share = createWorkerShare(spec, send);
  inbox.on('pool:ceiling', (message) => share.handle(message));
  // A stop can come while the worker is still starting (SIGTERM during start-up, a reload or a crash restart): it is
  // remembered and carried out as soon as there is something to drain, so shutdown never waits on a starting worker.
  let worker: RunningWorker | undefined;
  let pendingStop: { readonly reason: string; readonly kind: ShutdownKind } | undefined;
  const stop = (reason: string, kind: ShutdownKind = 'stop') => {
    if (!worker) pendingStop ??= { reason, kind };
    else void worker.shutdown(reason, kind).then(() => process.exit(0));
  };
  inbox.on('shutdown', (message) => stop(`primary asked (${message.kind})`, message.kind));
  inbox.on('listen:adopt', (message, handle) => {
    if (isListenHandle(handle)) worker ? worker.listener.adopt(message.slot, handle) : handle.close();
  });
  inbox.on('listen:release', (message) => worker?.listener.release(message.slot));
  inbox.on('connections:rebalance', (message) => worker?.rebalance(`slot ${message.slot} restarted`));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // The primary is gone: nobody will route to us or restart us, so drain and leave.
  process.on('disconnect', () => stop('primary disconnected', 'replace'));
  const listenSockets = spec.config.http.accept === 'reuseport' ? primaryListenSockets(inbox, send) : undefined;
  worker = await startWorker(spec, { logger, requestLog: requestLog.logger, share, listenSockets }).catch(
    (error: unknown) => fail(logger, error, 'worker failed to start'),
  );
  registry = worker.registry;
  if (pendingStop) {
    logger.info({ reason: pendingStop.reason }, 'asked to stop while starting; draining without reporting ready');
    stop(pendingStop.reason, pendingStop.kind);
    return;
  }
  logger.info({ port: spec.config.http.port, poolMax: spec.budget.perWorker }, 'worker ready');
  send({ type: 'ready' });
  // Proof of a running event loop for the primary's hung-worker check; unref'd so it never delays an exit.
  setInterval(() => send({ type: 'heartbeat' }), heartbeatIntervalMs(spec.config.cluster.heartbeatTimeoutMs)).unref();
}

/** The validated config, or exit 2 with the reason (no logger exists before the config does). */
function configOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}

function fail(logger: Logger, error: unknown, message: string): never {
  logger.fatal({ err: error }, message);
  process.exit(1);
}

void (cluster.isPrimary ? runPrimary() : runWorker());

import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { withDeadline } from '../deadline/with-deadline.js';
import { createCrashPolicy, type CrashPolicy } from './crash-policy.js';
import type { ListenSocketKeeper } from '../listening/listen-socket-handover.js';
import {
  encodeWorkerSpec,
  workerSpecVariable,
  type PrimaryInbox,
  type PrimaryMessage,
  type ShutdownKind,
  type WorkerMessage,
  type WorkerSpec,
} from '../protocol/messages.js';
import { createRollingReload, type ReloadOutcome } from './rolling-reload.js';
import type { WorkerEntry, WorkerState } from './worker-entry.js';
import { createWorkerWatchdog } from './worker-watchdog.js';

/*
 * The primary's lifecycle, one state machine.
 *
 * A worker process goes starting → ready → stopping → exited. Every state has a deadline, enforced by the watchdog
 * with SIGKILL: the start timeout, the heartbeat timeout (renewed by every message), SHUTDOWN_TIMEOUT_MS after it was
 * asked to stop. So every wait on a worker ends.
 *
 * Each of the WORKERS slots has at most one serving worker (starting or ready). A serving worker that exits without
 * having been asked to stop crashed: the crash policy restarts its slot after a backoff, or gives up.
 *
 * THE RULE (it keeps the connection budget's WORKERS + 1 pools per replica, in whatever order signals, crashes,
 * heartbeat kills and reloads arrive):
 *   a slot replaces its worker only after stopping the old one, and there is at most one surge worker per replica.
 * That is: a worker stops serving only by being stopped or by dying; nothing is forked while WORKERS + 1 worker
 * processes are alive, stopping ones included (a crash restart that finds no room waits for the next exit); a rolling
 * reload forks one surge at a time and waits for the old worker's exit before the next slot.
 *
 * Shutdown wins: from the first SIGTERM on nothing is forked, pending restarts are cancelled, the reload stops and
 * every worker, starting ones included, is asked to drain; stragglers are killed at SHUTDOWN_TIMEOUT_MS.
 */

export interface PrimaryOptions {
  readonly workers: number;
  /** How long a worker asked to stop may take to exit before it is killed; also the shutdown deadline. */
  readonly shutdownTimeoutMs: number;
  /** How long a new worker may take to report ready before it is killed. */
  readonly startTimeoutMs?: number;
  /** A ready worker silent for this long (no heartbeat) is hung: it is killed and replaced. */
  readonly heartbeatTimeoutMs: number;
  readonly crashPolicy?: CrashPolicy;
  /** Extra environment for every worker process, e.g. libuv's thread pool size (read once, at its start). */
  readonly workerEnv?: Readonly<Record<string, string>>;
}

export interface Primary {
  /** Forks every worker; resolves true once every slot has a ready worker, false if shutdown or a crash loop came first. */
  start(): Promise<boolean>;
  /** Rolling reload: per slot, a new worker is ready before the old one drains. Ignored while one runs. */
  reload(): Promise<ReloadOutcome>;
  /**
   * Drains every worker; kills stragglers `drainMs` after the call (SHUTDOWN_TIMEOUT_MS by default). Idempotent.
   * Resolves with the exit code.
   */
  shutdown(reason: string, drainMs?: number): Promise<number>;
  /** Resolves with an exit code when the primary must stop on its own (a crash loop). */
  readonly fatal: Promise<number>;
  /** Worker processes by state; restarts are reported through `onWorkerRestart`. */
  counts(): { readonly byState: Readonly<Record<WorkerState, number>> };
  /** Every live worker process, whatever its state (a draining worker still holds connections). */
  workers(): readonly { readonly slot: number; readonly worker: Worker }[];
}

export interface PrimaryDeps {
  readonly logger: Logger;
  readonly spec: (slot: number) => WorkerSpec;
  readonly onWorkerRestart?: (slot: number) => void;
  /**
   * Before a reload forks anything: what `spec` gives the new workers is brought up to date here (the budget from
   * MySQL's current limits). False refuses the reload; the old workers keep serving. Default: always true.
   */
  readonly prepareReload?: () => Promise<boolean>;
  /** The clock for every deadline (Date.now by default). */
  readonly now?: () => number;
  /** HTTP_ACCEPT=reuseport: keeps each slot's listening sockets across its workers (listen-socket-handover.ts). */
  readonly listenSockets?: ListenSocketKeeper;
  /** Every worker's messages (server/protocol/messages.ts), delivered from cluster's 'message' event. */
  readonly inbox: PrimaryInbox<Worker>;
}

/** Forks workers, restarts the ones that die, reloads and shuts down without dropping requests. */
export function createPrimary(options: PrimaryOptions, deps: PrimaryDeps): Primary {
  const { logger } = deps;
  const now = deps.now ?? Date.now;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const crashPolicy = options.crashPolicy ?? createCrashPolicy();
  const maxAlive = options.workers + 1;
  const entries = new Map<number, WorkerEntry>(); // every live worker process, by cluster worker id
  const serving = new Map<number, WorkerEntry>(); // by slot: the worker that owns it, starting or ready
  const restartTimers = new Map<number, NodeJS.Timeout>(); // by slot: a crash restart waiting out its backoff
  const waitingForRoom = new Set<number>(); // slots whose restart is due while WORKERS + 1 processes are alive
  const exitListeners = new Set<() => void>();
  let shuttingDown = false;
  let stopping: Promise<number> | undefined;
  let declareFatal: (code: number) => void = () => {};
  const fatal = new Promise<number>((resolve) => (declareFatal = resolve));
  let announceStarted: (allReady: boolean) => void = () => {};
  const started = new Promise<boolean>((resolve) => (announceStarted = resolve));

  const watchdog = createWorkerWatchdog(
    // Checked often enough for the shortest deadline: a stop deadline can be shorter than the heartbeat timeout.
    { intervalMs: Math.max(50, Math.floor(Math.min(options.heartbeatTimeoutMs, options.shutdownTimeoutMs) / 4)) },
    { logger, now, entries: () => entries.values() },
  );

  // Until it says `ready`: how each starting worker's `ready` promise is resolved, by cluster worker id.
  const readiness = new Map<number, () => void>();
  // Any message proves a running event loop; a stopping worker's deadline is not renewed by talking.
  deps.inbox.onAny((_message, worker) => {
    const entry = entries.get(worker.id);
    if (entry?.state === 'ready') entry.deadlineAt = now() + options.heartbeatTimeoutMs;
  });
  deps.inbox.on('ready', (_message, worker) => {
    const entry = entries.get(worker.id);
    if (entry?.state !== 'starting') return;
    entry.state = 'ready';
    entry.deadlineAt = now() + options.heartbeatTimeoutMs;
    readiness.get(worker.id)?.();
    readiness.delete(worker.id);
    deps.listenSockets?.reclaim(entry.slot);
    if (serving.size === options.workers && [...serving.values()].every((e) => e.state === 'ready'))
      announceStarted(true);
  });
  const listenMessage = (
    message: Extract<WorkerMessage, { type: 'listen:want' | 'listen:keep' }>,
    worker: Worker,
    handle: unknown,
  ) => {
    const entry = entries.get(worker.id);
    if (entry) deps.listenSockets?.handle(worker, entry.slot, message, handle);
  };
  deps.inbox.on('listen:want', listenMessage);
  deps.inbox.on('listen:keep', listenMessage);

  function fork(slot: number): WorkerEntry {
    const worker = cluster.fork({ ...options.workerEnv, [workerSpecVariable]: encodeWorkerSpec(deps.spec(slot)) });
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const entry: WorkerEntry = { worker, slot, state: 'starting', deadlineAt: now() + startTimeoutMs, ready, exited };
    entries.set(worker.id, entry);
    readiness.set(worker.id, markReady);
    // IPC errors (e.g. the channel closing mid-send) must not crash the primary.
    worker.on('error', (error) => logger.warn({ err: error, workerId: worker.id, slot }, 'worker IPC error'));
    worker.once('exit', (code, signal) => onExit(entry, code, signal));
    return entry;
  }

  const hasRoom = () => !shuttingDown && entries.size < maxAlive;

  /** Gives an empty slot a new worker (a crash restart), once there is room for one. */
  function fill(slot: number): void {
    waitingForRoom.delete(slot);
    if (shuttingDown || serving.has(slot)) return;
    if (!hasRoom()) {
      logger.warn({ slot, alive: entries.size }, 'restart waits for a worker to exit: WORKERS + 1 are alive');
      waitingForRoom.add(slot);
      return;
    }
    deps.onWorkerRestart?.(slot);
    const entry = fork(slot);
    serving.set(slot, entry);
    // Once the restart is ready (and has its sockets back), it gets its share of the long-lived connections too.
    void entry.ready.then(() => rebalanceFor(entry));
  }

  /**
   * The dead worker's clients reconnected to the other workers while its slot had none, and keep-alive connections stay
   * where they are: every other ready worker asks the connections it holds to reconnect, and the kernel deals them
   * over every worker again (connection-rebalance.ts).
   */
  function rebalanceFor(restarted: WorkerEntry): void {
    if (shuttingDown) return;
    for (const other of serving.values())
      if (other !== restarted && other.state === 'ready' && other.worker.isConnected())
        other.worker.send({ type: 'connections:rebalance', slot: restarted.slot } satisfies PrimaryMessage);
  }

  function cancelRestart(slot: number): void {
    clearTimeout(restartTimers.get(slot));
    restartTimers.delete(slot);
    waitingForRoom.delete(slot);
  }

  function onExit(entry: WorkerEntry, code: number | null, signal: string | null): void {
    entries.delete(entry.worker.id);
    readiness.delete(entry.worker.id);
    const workerPid = entry.worker.process.pid;
    const wasServing = serving.get(entry.slot) === entry;
    if (wasServing) serving.delete(entry.slot);
    deps.listenSockets?.forget(entry.worker);
    if (wasServing && entry.state !== 'stopping' && !shuttingDown) {
      // Until the restart is ready, another worker accepts on the slot's sockets: what is queued there is served now.
      const borrower = [...serving.values()].find((e) => e.state === 'ready');
      if (borrower) deps.listenSockets?.lend(entry.slot, borrower.worker);
      onCrash(entry.slot, workerPid, code, signal);
    } else logger.info({ slot: entry.slot, workerPid, code, signal }, 'worker exited');
    for (const slot of [...waitingForRoom]) fill(slot);
    for (const listener of [...exitListeners]) listener();
  }

  function onCrash(slot: number, workerPid: number | undefined, code: number | null, signal: string | null): void {
    const decision = crashPolicy.onCrash(now());
    if (decision.action === 'give_up') {
      logger.fatal(
        { slot, workerPid, code, signal, recentCrashes: decision.recentCrashes },
        'workers are crash-looping; the primary is giving up instead of restarting them again',
      );
      declareFatal(1);
      return;
    }
    logger.error(
      { slot, workerPid, code, signal, restartInMs: decision.delayMs, recentCrashes: decision.recentCrashes },
      'worker died; restarting',
    );
    cancelRestart(slot);
    const timer = setTimeout(() => {
      restartTimers.delete(slot);
      fill(slot);
    }, decision.delayMs);
    restartTimers.set(slot, timer);
  }

  function send(entry: WorkerEntry, message: PrimaryMessage): void {
    if (entry.worker.isConnected())
      entry.worker.send(message, (error: Error | null) => error && entry.worker.kill('SIGTERM'));
    else entry.worker.kill('SIGTERM');
  }

  /** Asks a worker (starting or ready) to drain; the watchdog kills it if it has not exited by the deadline. */
  function stopWorker(entry: WorkerEntry, kind: ShutdownKind): Promise<void> {
    if (entry.state !== 'stopping') {
      entry.state = 'stopping';
      entry.deadlineAt = now() + options.shutdownTimeoutMs;
      send(entry, { type: 'shutdown', kind });
    }
    return entry.exited;
  }

  const reloader = createRollingReload(
    {
      slots: options.workers,
      isShuttingDown: () => shuttingDown,
      prepare: () => deps.prepareReload?.() ?? Promise.resolve(true),
      hasRoom,
      nextExit: () =>
        new Promise<void>((resolve) => {
          const listener = () => {
            exitListeners.delete(listener);
            resolve();
          };
          exitListeners.add(listener);
        }),
      forkSurge: fork,
      promote(fresh) {
        if (shuttingDown || fresh.state !== 'ready' || !entries.has(fresh.worker.id)) return undefined;
        const old = serving.get(fresh.slot);
        if (old) void stopWorker(old, 'replace'); // THE RULE: stop the old worker before the slot changes hands
        serving.set(fresh.slot, fresh);
        cancelRestart(fresh.slot); // the slot is served again
        return old?.exited ?? Promise.resolve();
      },
    },
    { logger },
  );

  async function drainAll(reason: string, drainMs: number): Promise<number> {
    logger.info({ reason, workers: entries.size }, 'shutting down');
    // The workers hold their own copies until they have drained; the sockets close with the last of them.
    deps.listenSockets?.closeAll();
    // The shutdown deadline below kills stragglers itself, and its exit code says so.
    watchdog.stop();
    for (const slot of [...restartTimers.keys()]) cancelRestart(slot);
    announceStarted(false);
    const all = [...entries.values()];
    const drained = await withDeadline(drainMs, () => Promise.all(all.map((entry) => stopWorker(entry, 'stop'))), {
      what: 'draining the workers',
    }).then(
      () => 'drained' as const,
      () => 'timeout' as const,
    );
    if (drained === 'timeout') {
      const stragglers = [...entries.values()];
      logger.error(
        { stragglerPids: stragglers.map((e) => e.worker.process.pid) },
        'shutdown deadline reached; killing stragglers',
      );
      for (const entry of stragglers) entry.worker.kill('SIGKILL');
      await Promise.all(stragglers.map((entry) => entry.exited));
      return 1;
    }
    logger.info('all workers drained');
    return 0;
  }

  return {
    fatal,
    start() {
      if (!shuttingDown) for (let slot = 0; slot < options.workers; slot++) serving.set(slot, fork(slot));
      // A worker that crashes at start is restarted in its slot; the crash policy ends a loop via `fatal`.
      return Promise.race([started, fatal.then(() => false)]);
    },
    reload: () => reloader.reload(),
    shutdown(reason, drainMs = options.shutdownTimeoutMs) {
      shuttingDown = true;
      stopping ??= drainAll(reason, drainMs);
      return stopping;
    },
    workers() {
      return [...entries.values()].map(({ slot, worker }) => ({ slot, worker }));
    },
    counts() {
      const byState: Record<WorkerState, number> = { starting: 0, ready: 0, stopping: 0 };
      for (const entry of entries.values()) byState[entry.state] += 1;
      return { byState };
    },
  };
}

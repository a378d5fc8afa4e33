import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { createCrashPolicy, type CrashPolicy } from './crash-policy.js';
import { encodeWorkerSpec, isReadyMessage, workerSpecVariable, type PrimaryMessage, type ShutdownKind, type WorkerSpec } from './messages.js';

type WorkerState = 'starting' | 'ready' | 'stopping';

interface WorkerEntry {
  readonly worker: Worker;
  readonly slot: number;
  state: WorkerState;
  /** When the worker last proved its event loop runs (any message counts). */
  lastSeen: number;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
}

export interface PrimaryOptions {
  readonly workers: number;
  readonly shutdownTimeoutMs: number;
  /** How long a new worker may take to report ready before a reload gives up on it. */
  readonly startTimeoutMs?: number;
  /** A ready worker silent for this long (no heartbeat) is hung: it is killed and replaced. */
  readonly heartbeatTimeoutMs: number;
  readonly crashPolicy?: CrashPolicy;
  /** Extra environment for every worker process, e.g. libuv's thread pool size (read once, at its start). */
  readonly workerEnv?: Readonly<Record<string, string>>;
}

export interface Primary {
  /** Forks every worker; resolves true once all report ready, false if the cluster went fatal first. */
  start(): Promise<boolean>;
  /** Rolling reload: per slot, a new worker is ready before the old one drains. Ignored while one runs. */
  reload(): Promise<void>;
  /** Drains every worker; kills stragglers at the deadline. Idempotent. Resolves with the exit code. */
  shutdown(reason: string): Promise<number>;
  /** Resolves with an exit code when the primary must stop on its own (a crash loop). */
  readonly fatal: Promise<number>;
  /** Workers by state; restarts are reported through `onWorkerRestart`. */
  counts(): { readonly byState: Readonly<Record<WorkerState, number>> };
  /** Every live worker process, whatever its state (a draining worker still holds connections). */
  workers(): readonly { readonly slot: number; readonly worker: Worker }[];
}

export interface PrimaryDeps {
  readonly logger: Logger;
  readonly spec: (slot: number) => WorkerSpec;
  readonly onWorkerRestart?: (slot: number) => void;
}

/** Forks workers, restarts the ones that die, reloads and shuts down without dropping requests. */
export function createPrimary(options: PrimaryOptions, deps: PrimaryDeps): Primary {
  const { logger } = deps;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const crashPolicy = options.crashPolicy ?? createCrashPolicy();
  const entries = new Map<number, WorkerEntry>(); // by cluster worker id
  const active = new Map<number, WorkerEntry>(); // by slot: the worker that serves it
  const restartTimers = new Set<NodeJS.Timeout>();
  let stopping: Promise<number> | undefined;
  let reloading: Promise<void> | undefined;
  let declareFatal: (code: number) => void = () => {};
  const fatal = new Promise<number>((resolve) => (declareFatal = resolve));

  function fork(slot: number): WorkerEntry {
    const worker = cluster.fork({ ...options.workerEnv, [workerSpecVariable]: encodeWorkerSpec(deps.spec(slot)) });
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const entry: WorkerEntry = { worker, slot, state: 'starting', ready, exited, lastSeen: Date.now() };
    entries.set(worker.id, entry);
    worker.on('message', (message: unknown) => {
      entry.lastSeen = Date.now();
      if (!isReadyMessage(message) || entry.state !== 'starting') return;
      entry.state = 'ready';
      markReady();
    });
    // IPC errors (e.g. the channel closing mid-send) must not crash the primary.
    worker.on('error', (error) => logger.warn({ err: error, workerId: worker.id, slot }, 'worker IPC error'));
    worker.once('exit', (code, signal) => onExit(entry, code, signal));
    return entry;
  }

  function onExit(entry: WorkerEntry, code: number | null, signal: string | null): void {
    entries.delete(entry.worker.id);
    const workerPid = entry.worker.process.pid;
    const serving = active.get(entry.slot) === entry;
    if (entry.state === 'stopping' || stopping || !serving) {
      logger.info({ slot: entry.slot, workerPid, code, signal }, 'worker exited');
      return;
    }
    active.delete(entry.slot);
    const decision = crashPolicy.onCrash(Date.now());
    if (decision.action === 'give_up') {
      logger.fatal(
        { slot: entry.slot, workerPid, code, signal, recentCrashes: decision.recentCrashes },
        'workers are crash-looping; the primary is giving up instead of restarting them again',
      );
      declareFatal(1);
      return;
    }
    logger.error({ slot: entry.slot, workerPid, code, signal, restartInMs: decision.delayMs, recentCrashes: decision.recentCrashes }, 'worker died; restarting');
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      if (stopping) return;
      deps.onWorkerRestart?.(entry.slot);
      active.set(entry.slot, fork(entry.slot));
    }, decision.delayMs);
    restartTimers.add(timer);
  }

  // A worker whose event loop is stuck (an infinite loop, SIGSTOP) still holds its share of connections
  // and the primary keeps routing connections to it: replace it. Its exit then counts as a crash.
  const heartbeatCheck = setInterval(() => {
    const now = Date.now();
    for (const entry of entries.values()) {
      if (entry.state !== 'ready' || now - entry.lastSeen < options.heartbeatTimeoutMs) continue;
      logger.error({ slot: entry.slot, workerPid: entry.worker.process.pid, silentMs: now - entry.lastSeen }, 'worker missed its heartbeats; killing it');
      entry.lastSeen = now; // one kill per silence
      entry.worker.process.kill('SIGKILL');
    }
  }, Math.max(50, Math.floor(options.heartbeatTimeoutMs / 4)));
  heartbeatCheck.unref();

  function send(entry: WorkerEntry, message: PrimaryMessage): void {
    if (entry.worker.isConnected()) entry.worker.send(message, (error: Error | null) => error && entry.worker.kill('SIGTERM'));
    else entry.worker.kill('SIGTERM');
  }

  function stopWorker(entry: WorkerEntry, kind: ShutdownKind): Promise<void> {
    if (entry.state !== 'stopping') {
      entry.state = 'stopping';
      send(entry, { type: 'shutdown', kind });
    }
    return entry.exited;
  }

  function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  async function rollSlot(slot: number): Promise<boolean> {
    const old = active.get(slot);
    const fresh = fork(slot);
    const outcome = await withTimeout(Promise.race([fresh.ready, fresh.exited.then(() => 'exited' as const)]), startTimeoutMs);
    if (outcome !== undefined) {
      logger.error({ slot, outcome }, 'reload aborted: the new worker did not become ready; the old one keeps serving');
      fresh.state = 'stopping';
      fresh.worker.kill('SIGKILL');
      return false;
    }
    active.set(slot, fresh);
    if (old) await stopWorker(old, 'replace');
    return true;
  }

  return {
    fatal,
    async start() {
      for (let slot = 0; slot < options.workers; slot++) active.set(slot, fork(slot));
      // A worker that crashes at start is replaced under a new entry; the crash policy ends a loop via `fatal`.
      const allReady = Promise.all([...active.values()].map((entry) => entry.ready)).then(() => true);
      return Promise.race([allReady, fatal.then(() => false)]);
    },
    reload() {
      if (stopping) return Promise.resolve();
      if (reloading) {
        logger.warn('reload already in progress; ignoring this one');
        return reloading;
      }
      reloading = (async () => {
        logger.info('rolling reload started');
        for (const slot of [...active.keys()].sort((a, b) => a - b)) {
          if (stopping || !(await rollSlot(slot))) return;
        }
        logger.info('rolling reload finished');
      })().finally(() => (reloading = undefined));
      return reloading;
    },
    shutdown(reason) {
      stopping ??= (async () => {
        logger.info({ reason, workers: entries.size }, 'shutting down');
        clearInterval(heartbeatCheck);
        for (const timer of restartTimers) clearTimeout(timer);
        const all = [...entries.values()];
        const drained = await withTimeout(Promise.all(all.map((entry) => stopWorker(entry, 'stop'))), options.shutdownTimeoutMs);
        if (drained === 'timeout') {
          const stragglers = [...entries.values()];
          logger.error({ stragglerPids: stragglers.map((e) => e.worker.process.pid) }, 'shutdown deadline reached; killing stragglers');
          stragglers.forEach((entry) => entry.worker.kill('SIGKILL'));
          await Promise.all(stragglers.map((entry) => entry.exited));
          return 1;
        }
        logger.info('all workers drained');
        return 0;
      })();
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

/**
 * Bounded concurrency with a bounded, time-limited queue, first come first served: admission control for CPU-heavy
 * work (password hashing) and for a worker's requests. Work beyond `concurrency` waits in line; when the line is
 * full, or a waiter has waited `maxWaitMs`, it is refused with OverloadedError (a 503) instead of piling up latency
 * for everyone. A waiter can also be withdrawn by an AbortSignal (its client hung up): it leaves its place at once
 * instead of holding it until its turn. Hand-written because p-limit has no bounded wait and p-queue is ESM-only,
 * which this CommonJS build cannot load.
 */
export class OverloadedError extends Error {
  override readonly name = 'OverloadedError';
  constructor(
    readonly reason: 'queue_full' | 'wait_timeout',
    /** What the client is told, e.g. "Too many logins at once; retry shortly." */
    readonly detail = 'The server is busy; retry shortly.',
  ) {
    super(`overloaded: ${reason}`);
  }
}

export interface AdmissionLimiterOptions {
  /** A number, or read at every admission (a limit that follows the pool's live ceiling). */
  readonly concurrency: number | (() => number);
  readonly maxQueue: number;
  readonly maxWaitMs: number;
  /** Told to the refused client (OverloadedError#detail). */
  readonly refusal?: string;
}

export interface AdmissionLimiter {
  /**
   * Runs `work` once a slot is free. While it waits, an abort of `signal` takes it out of the line at once and `run`
   * rejects with the signal's reason (as fetch does); an abort after `work` started changes nothing.
   */
  run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /**
   * The fast path of `run`, without its promises: takes a slot when one is free and nobody waits (true), and the
   * caller then owes exactly one `leave()`. False: wait in line with `run`.
   */
  tryEnter(): boolean;
  leave(): void;
  state(): { readonly active: number; readonly queued: number; readonly limit: number };
  /** True when `run` would refuse at once (every slot busy, the line full): lets a caller shed before costly work. */
  full(): boolean;
}

interface Waiter {
  readonly start: () => void;
  readonly timer: NodeJS.Timeout;
}

export function createAdmissionLimiter(options: AdmissionLimiterOptions): AdmissionLimiter {
  const { concurrency } = options;
  const limit = typeof concurrency === 'number' ? () => concurrency : concurrency;
  let active = 0;
  const queue: Waiter[] = [];

  /** Starts waiters while there is room: one per release, more when the limit was raised while they waited. */
  function startWaiters(): void {
    while (queue.length > 0 && active < limit()) {
      const next = queue.shift()!;
      clearTimeout(next.timer);
      next.start();
    }
  }

  function release(): void {
    active--;
    startWaiters();
  }

  function admit(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    startWaiters();
    if (active < limit()) {
      active++;
      return Promise.resolve();
    }
    if (queue.length >= options.maxQueue) return Promise.reject(new OverloadedError('queue_full', options.refusal));
    return new Promise((resolve, reject) => {
      const leaveLine = () => {
        queue.splice(queue.indexOf(waiter), 1);
        clearTimeout(waiter.timer);
        signal?.removeEventListener('abort', withdraw);
      };
      const withdraw = () => {
        leaveLine();
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener('abort', withdraw);
          active++;
          resolve();
        },
        timer: setTimeout(() => {
          leaveLine();
          reject(new OverloadedError('wait_timeout', options.refusal));
        }, options.maxWaitMs),
      };
      signal?.addEventListener('abort', withdraw, { once: true });
      queue.push(waiter);
    });
  }

  return {
    async run(work, signal) {
      await admit(signal);
      try {
        return await work();
      } finally {
        release();
      }
    },
    tryEnter() {
      startWaiters();
      if (queue.length > 0 || active >= limit()) return false;
      active++;
      return true;
    },
    leave: release,
    state: () => ({ active, queued: queue.length, limit: limit() }),
    full: () => active >= limit() && queue.length >= options.maxQueue,
  };
}

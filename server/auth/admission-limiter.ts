/**
 * Bounded concurrency with a bounded, time-limited queue: admission control for CPU-heavy work (password
 * hashing). Work beyond `concurrency` waits in line; when the line is full, or a waiter has waited
 * `maxWaitMs`, it is refused at once with OverloadedError (a fast 503) instead of piling up latency for
 * everyone. Hand-written because p-limit has no bounded wait and p-queue is
 * ESM-only, which this CommonJS build cannot load on Node 20.
 */
export class OverloadedError extends Error {
  override readonly name = 'OverloadedError';
  constructor(readonly reason: 'queue_full' | 'wait_timeout') {
    super(`overloaded: ${reason}`);
  }
}

export interface AdmissionLimiterOptions {
  readonly concurrency: number;
  readonly maxQueue: number;
  readonly maxWaitMs: number;
}

export interface AdmissionLimiter {
  run<T>(work: () => Promise<T>): Promise<T>;
  state(): { readonly active: number; readonly queued: number };
  /** True when `run` would refuse at once (every slot busy, the line full): lets a caller shed before costly work. */
  full(): boolean;
}

interface Waiter {
  readonly start: () => void;
  readonly timer: NodeJS.Timeout;
}

export function createAdmissionLimiter(options: AdmissionLimiterOptions): AdmissionLimiter {
  let active = 0;
  const queue: Waiter[] = [];

  function release(): void {
    active--;
    const next = queue.shift();
    if (next) {
      clearTimeout(next.timer);
      next.start();
    }
  }

  function admit(): Promise<void> {
    if (active < options.concurrency) {
      active++;
      return Promise.resolve();
    }
    if (queue.length >= options.maxQueue) return Promise.reject(new OverloadedError('queue_full'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          active++;
          resolve();
        },
        timer: setTimeout(() => {
          queue.splice(queue.indexOf(waiter), 1);
          reject(new OverloadedError('wait_timeout'));
        }, options.maxWaitMs),
      };
      queue.push(waiter);
    });
  }

  return {
    async run(work) {
      await admit();
      try {
        return await work();
      } finally {
        release();
      }
    },
    state: () => ({ active, queued: queue.length }),
    full: () => active >= options.concurrency && queue.length >= options.maxQueue,
  };
}

import { DatabaseUnavailableError } from './db-errors.js';

/*
 * Paces a pool's connection attempts while no server behind DATABASE_URL takes writes (DB_FOLLOW_PRIMARY,
 * docs/failover.md). Normally every create connects at once. Once an attempt found no server (refused, reset,
 * unresolvable, or read-only), the pool is searching: one attempt at a time, `intervalMs` apart, and every other
 * create waits its turn. The first attempt that finds a writable server ends the search and lets every waiting create
 * connect at once. So the new primary is found within `intervalMs` of becoming reachable, while the old primary (or a
 * dead address) gets one attempt per pool per interval, not one per waiting request.
 */

/** Called once a connection attempt is over: see ConnectGate.turn. */
export type Done = (found: boolean | undefined, error?: unknown) => void;

export interface ConnectGate {
  /**
   * Resolves when this create may connect, with the function to call once its attempt is over: `found` true when it
   * reached a server that takes writes, false when it found none (the search goes on), undefined for any other
   * outcome. At `deadlineAt` (on the pool's clock) it fails instead, with the last attempt's error when there was one.
   */
  turn(deadlineAt: number): Promise<Done>;
}

interface Waiter {
  readonly go: (probe: boolean) => void;
  readonly timer: NodeJS.Timeout;
}

export function createConnectGate(
  options: { readonly intervalMs: number },
  deps: { readonly now: () => number },
): ConnectGate {
  let searching = false;
  // An attempt of the search is under way; the next one starts `intervalMs` after it ends.
  let probing = false;
  let pause: NodeJS.Timeout | undefined;
  let lastError: unknown;
  const waiters: Waiter[] = [];

  const release = (waiter: Waiter, probe: boolean) => {
    clearTimeout(waiter.timer);
    waiter.go(probe);
  };

  /** The next waiting create probes `intervalMs` from now; with none waiting, the next create to come does. */
  function schedule(): void {
    if (!searching || probing || pause !== undefined) return;
    pause = setTimeout(() => {
      pause = undefined;
      const waiter = waiters.shift();
      if (!waiter) return;
      probing = true;
      release(waiter, true);
    }, options.intervalMs);
  }

  const ending =
    (probe: boolean): Done =>
    (found, error) => {
      if (probe) probing = false;
      if (found === true) {
        searching = false;
        lastError = undefined;
        clearTimeout(pause);
        pause = undefined;
        for (const waiter of waiters.splice(0)) release(waiter, false);
        return;
      }
      if (found === false) {
        searching = true;
        lastError = error;
      }
      schedule();
    };

  return {
    turn(deadlineAt) {
      if (!searching) return Promise.resolve(ending(false));
      if (!probing && pause === undefined && waiters.length === 0) {
        probing = true;
        return Promise.resolve(ending(true));
      }
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          go: (probe) => resolve(ending(probe)),
          timer: setTimeout(
            () => {
              waiters.splice(waiters.indexOf(waiter), 1);
              reject(lastError ?? new DatabaseUnavailableError('acquire_timeout'));
            },
            Math.max(0, deadlineAt - deps.now()),
          ),
        };
        waiters.push(waiter);
      });
    },
  };
}

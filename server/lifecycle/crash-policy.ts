/**
 * When a worker dies unexpectedly: restart it after an exponential backoff, unless workers have been
 * dying so often that restarting is pointless (a crash loop), in which case the primary gives up.
 */
export interface CrashPolicyOptions {
  /** Crashes within `windowMs` that count as a crash loop. */
  readonly maxCrashes: number;
  readonly windowMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const defaultCrashPolicy: CrashPolicyOptions = Object.freeze({
  maxCrashes: 5,
  windowMs: 30_000,
  baseDelayMs: 100,
  maxDelayMs: 5_000,
});

export type CrashDecision =
  | { readonly action: 'restart'; readonly delayMs: number; readonly recentCrashes: number }
  | { readonly action: 'give_up'; readonly recentCrashes: number };

export interface CrashPolicy {
  /** Records a crash at `nowMs` and says what to do about it. */
  onCrash(nowMs: number): CrashDecision;
}

export function createCrashPolicy(options: CrashPolicyOptions = defaultCrashPolicy): CrashPolicy {
  let crashes: number[] = [];
  return {
    onCrash(nowMs) {
      crashes = [...crashes.filter((at) => nowMs - at < options.windowMs), nowMs];
      if (crashes.length >= options.maxCrashes) return { action: 'give_up', recentCrashes: crashes.length };
      const delayMs = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (crashes.length - 1));
      return { action: 'restart', delayMs, recentCrashes: crashes.length };
    },
  };
}

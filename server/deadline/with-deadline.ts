/** A wait that ran out: what the caller gets instead of a result that came too late. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
  readonly code = 'DEADLINE';
  constructor(readonly what: string) {
    super(`${what}: no answer in time`);
  }
}

export interface DeadlineOptions<T> {
  /** What ran out, for the error and the logs. */
  readonly what: string;
  /** Gets a result that arrives after the deadline, to close what it opened: the caller has moved on. */
  readonly late?: (value: T) => void;
}

/**
 * The one way to bound a wait. `work` gets a signal that aborts at the deadline, so it can stop early and leave
 * nothing half done; past the deadline the caller gets a DeadlineError at once, and a result that still arrives goes
 * to `late` (a connection opened too late is closed there), never to the caller. A failure that arrives late is
 * nobody's: it is dropped.
 */
export async function withDeadline<T>(
  ms: number,
  work: (signal: AbortSignal) => Promise<T>,
  options: DeadlineOptions<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const running = work(controller.signal);
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        controller.abort();
        reject(new DeadlineError(options.what));
      },
      Math.max(0, ms),
    );
  });
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
    if (controller.signal.aborted)
      running.then(
        (value) => options.late?.(value),
        () => undefined,
      );
  }
}

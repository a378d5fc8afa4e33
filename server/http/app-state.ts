import type { Logger } from 'pino';
import type { User } from '../auth/user-store.js';

/** What middleware puts on `ctx.state` for the handlers after it. */
export interface AppState {
  requestId: string;
  /** The request's child logger: carries worker and request id. */
  log: Logger;
  user?: User;
  token?: string;
  /** Set by the error boundary on error responses; the request line carries it. */
  error?: RequestError;
  /**
   * Aborted at the request's deadline (request-deadline.ts): pass it to every database call, so that once the request
   * is answered its statements stop and nothing more is written. Absent when the app runs without a deadline.
   */
  signal?: AbortSignal;
}

export interface RequestError {
  /** The `error` field of the JSON body, e.g. `overloaded`. */
  readonly code: string;
  /** For 5xx: what caused it, e.g. `acquire_timeout`, `ECONNREFUSED`, `queue_full`. */
  readonly cause?: string;
}

/**
 * ctx.state for one request. The child logger is made only when something logs through it: most requests
 * log just their request line, and a child per request was a measurable share of a busy worker.
 */
export class RequestState implements AppState {
  user?: User;
  token?: string;
  error?: RequestError;
  signal?: AbortSignal;
  #log: Logger | undefined;

  constructor(
    private readonly root: Logger,
    readonly requestId: string,
  ) {}

  get log(): Logger {
    this.#log ??= this.root.child({ requestId: this.requestId });
    return this.#log;
  }
}

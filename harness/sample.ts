/** One request of the traffic driver (harness/traffic.ts) and what became of it. */

export interface Call {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly json?: unknown;
}

export interface Sample {
  readonly client: number;
  readonly path: string;
  readonly requestId: string;
  /** Epoch ms when the request was started, when its bytes were handed to the kernel, when it settled. */
  readonly startedAt: number;
  readonly sentAt: number | undefined;
  readonly endedAt: number;
  /** Sent on a keep-alive connection an earlier request already used (so a worker owned it), not a new one. */
  readonly reusedSocket: boolean;
  /** Latency in ms (monotonic clock). */
  readonly ms: number;
  readonly status: number | undefined;
  /** Socket-level failure: ECONNRESET, ECONNREFUSED, TIMEOUT (our client timeout)... */
  readonly error: string | undefined;
  readonly retryAfter: string | undefined;
  readonly body: string;
}

/** A socket-level failure's code (ECONNRESET, ECONNREFUSED...), as a Sample's `error` carries it. */
export function codeOf(error: unknown): string {
  const e = error as { code?: unknown; cause?: { code?: unknown }; message?: unknown };
  return String(e.code ?? e.cause?.code ?? e.message);
}

// UND_ERR_SOCKET is undici's "other side closed": the server closed a socket a request was using.
const resetCodes = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ECONNABORTED']);

/** The server ended the connection under a request: a reset, or its end (FIN) before the answer, however named. */
export function isConnectionReset(code: string): boolean {
  return resetCodes.has(code);
}

/**
 * Which database failures mean "the database is unavailable right now" (a 503 with Retry-After)
 * rather than a bug or a constraint violation. A login must never turn one of these into a 401.
 */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
  constructor(
    /** `acquire_timeout`, or the driver's error code such as `ECONNREFUSED` or `ER_CON_COUNT_ERROR`. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`database unavailable: ${code}`, options);
  }
}

// Codes after which the connection itself is unusable or the server refuses work for now.
const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR', // 1040 Too many connections
  'ER_TOO_MANY_USER_CONNECTIONS', // 1203
  'ER_SERVER_SHUTDOWN', // 1053
  'ER_QUERY_INTERRUPTED', // 1317, e.g. KILL QUERY during a restart
  'ER_CONNECTION_KILLED', // 1927 (MariaDB)
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_CANT_LOCK',
]);

export function errorCode(error: unknown): string {
  if (error !== null && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code;
  return 'UNKNOWN';
}

/** True when the error means the connection that raised it must not be reused. */
export function isFatalConnectionError(error: unknown): boolean {
  return error !== null && typeof error === 'object' && 'fatal' in error && error.fatal === true;
}

export function isUnavailableError(error: unknown): boolean {
  return error instanceof DatabaseUnavailableError || isFatalConnectionError(error) || unavailableCodes.has(errorCode(error));
}

/** Wraps driver errors that mean "unavailable" so the HTTP layer can answer 503; passes others through. */
export function toUnavailable(error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError) return error;
  return isUnavailableError(error) ? new DatabaseUnavailableError(errorCode(error), { cause: error }) : error;
}

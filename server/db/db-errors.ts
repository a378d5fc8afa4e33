/**
 * Which database failures mean "the database is unavailable right now" (a 503 with Retry-After)
 * rather than a bug or a constraint violation. A login must never turn one of these into a 401.
 */
export class DatabaseUnavailableError extends Error {
  override readonly name: string = 'DatabaseUnavailableError';
  constructor(
    /** `acquire_timeout`, or the driver's error code such as `ECONNREFUSED` or `ER_CON_COUNT_ERROR`. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`database unavailable: ${code}`, options);
  }
}

/**
 * The database did not answer a statement that may commit (a COMMIT, or a write outside an explicit transaction)
 * after it was sent: its deadline passed, the caller gave up, or the connection was lost. The server may have
 * committed it or not, so this must not be answered like other unavailability (a 503 says nothing was written).
 * Which statements may commit: statement-kind.ts.
 */
export class OutcomeUnknownError extends DatabaseUnavailableError {
  override readonly name: string = 'OutcomeUnknownError';
}

/**
 * A statement that was never sent: its connection was found closed (the server ended it, or it broke) before the
 * statement was written to it. Nothing it asked for can have happened, whatever kind of statement it was.
 */
export class NotSentError extends DatabaseUnavailableError {
  override readonly name: string = 'NotSentError';
}

/** What the statement deadline, an abort or a lost connection makes of a statement already sent. */
export function cutOff(code: string, mayCommit: boolean, options?: { cause?: unknown }): DatabaseUnavailableError {
  return mayCommit ? new OutcomeUnknownError(code, options) : new DatabaseUnavailableError(code, options);
}

/** The code of an abort: the reason's when the caller gave a DatabaseUnavailableError (`request_deadline`), else `aborted`. */
export function abortCode(signal: AbortSignal): string {
  return signal.reason instanceof DatabaseUnavailableError ? signal.reason.code : 'aborted';
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
]);

/*
 * Server errors by errno, because mysql2 names only the errnos MySQL defines: MariaDB's own (1927, 1969) arrive with
 * `code` undefined. Each means "retry shortly", not "this request is wrong".
 */
const unavailableErrnos = new Map<number, string>([
  [1040, 'ER_CON_COUNT_ERROR'], // Too many connections
  [1203, 'ER_TOO_MANY_USER_CONNECTIONS'], // MySQL: the account is at its MAX_USER_CONNECTIONS
  [1226, 'ER_USER_LIMIT_REACHED'], // MariaDB: the same, and MySQL's per-hour limits
  [1053, 'ER_SERVER_SHUTDOWN'],
  [1317, 'ER_QUERY_INTERRUPTED'], // KILL QUERY, e.g. during a restart
  [1927, 'ER_CONNECTION_KILLED'], // MariaDB
  [1290, 'ER_OPTION_PREVENTS_STATEMENT'], // --read-only: a replica, or an old primary right after a failover
  [1792, 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION'],
  [1836, 'ER_READ_ONLY_MODE'], // innodb_read_only: an Aurora reader
  [1461, 'ER_MAX_PREPARED_STMT_COUNT_REACHED'], // the server-wide max_prepared_stmt_count is full
  [3024, 'ER_QUERY_TIMEOUT'], // MySQL max_execution_time
  [1969, 'ER_STATEMENT_TIMEOUT'], // MariaDB max_statement_time
  [1205, 'ER_LOCK_WAIT_TIMEOUT'],
  [1213, 'ER_LOCK_DEADLOCK'],
  [1015, 'ER_CANT_LOCK'],
]);
const unavailableServerCodes = new Set(unavailableErrnos.values());

/** The driver's code, else the name of a known errno (`ER_CONNECTION_KILLED` for 1927), else `UNKNOWN`. */
export function errorCode(error: unknown): string {
  if (error === null || typeof error !== 'object') return 'UNKNOWN';
  if ('code' in error && typeof error.code === 'string') return error.code;
  if ('errno' in error && typeof error.errno === 'number')
    return unavailableErrnos.get(error.errno) ?? `ERRNO_${error.errno}`;
  return 'UNKNOWN';
}

// Codes that mean the connection went away under a statement: whatever it was doing, nobody will say how it ended.
const connectionLostCodes = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'PROTOCOL_CONNECTION_LOST',
  'ER_CONNECTION_KILLED',
]);

/** True when the connection was lost under a statement, rather than the server refusing it with an answer. */
export function isConnectionLost(error: unknown): boolean {
  return isFatalConnectionError(error) || connectionLostCodes.has(errorCode(error));
}

/*
 * The server refused a write because it does not take writes (any more): errno 1290 for `--read-only` (a replica, or
 * a primary being demoted; MySQL also uses 1290 for other options, such as --secure-file-priv, so its message must
 * name read-only), 1792 for a write in a READ ONLY transaction, 1836 for innodb_read_only (an Aurora reader). The
 * statement was refused with an answer: it wrote nothing. The same three as go-sql-driver's rejectReadOnly.
 */
const readOnlyErrnos = new Set([1792, 1836]);

export function isReadOnlyRefusal(error: unknown): boolean {
  if (error === null || typeof error !== 'object' || !('errno' in error)) return false;
  if (error.errno === 1290) return /read[-_ ]only/i.test('message' in error ? String(error.message) : '');
  return typeof error.errno === 'number' && readOnlyErrnos.has(error.errno);
}

/** True when the error means the connection that raised it must not be reused. */
export function isFatalConnectionError(error: unknown): boolean {
  return error !== null && typeof error === 'object' && 'fatal' in error && error.fatal === true;
}

export function isUnavailableError(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError || isFatalConnectionError(error)) return true;
  const code = errorCode(error);
  return unavailableCodes.has(code) || unavailableServerCodes.has(code);
}

/** Wraps driver errors that mean "unavailable" so the HTTP layer can answer 503; passes others through. */
export function toUnavailable(error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError) return error;
  return isUnavailableError(error) ? new DatabaseUnavailableError(errorCode(error), { cause: error }) : error;
}

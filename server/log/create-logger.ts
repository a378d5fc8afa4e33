import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';

// Anything that could carry a credential. Keys are matched at these paths wherever pino serialises them.
const redactPaths = [
  'password',
  '*.password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  '*.headers.cookie',
  // It decrypts the outcome stored under it (a login's holds a session token).
  'headers["idempotency-key"]',
  '*.headers["idempotency-key"]',
  'db.password',
  'connection.password',
];

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Static fields on every line, e.g. `{ role: 'worker', worker: 1 }`. */
  readonly base?: Record<string, unknown>;
  /** Where lines go; stdout by default. Tests pass a stream to read the lines back. */
  readonly destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { pid: process.pid, ...options.base },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Synchronous and unbuffered: a lifecycle or error line is out before the next thing happens, even a crash.
    options.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

// The primary and every worker share stdout. A pipe keeps a write of at most PIPE_BUF (4096) bytes whole, so a
// buffered chunk of whole lines never interleaves with another process's line: sonic-boom starts a new chunk
// rather than let one grow past maxWrite, and writes once a quarter of a chunk's room is left.
const pipeAtomicBytes = 4096;
const writeAtBytes = 3072;

export interface RequestLogger {
  /** Writes the one line per request; its fields are fixed and never secret, so it skips redaction. */
  readonly logger: Logger;
  /** Writes out buffered lines now, synchronously (on exit). */
  flush(): void;
  /** Flushes and stops the periodic flush; the file descriptor stays open (it is not ours: stdout by default). */
  close(): void;
}

export interface RequestLoggerOptions {
  readonly level: LogLevel;
  readonly base?: Record<string, unknown>;
  /** Buffer lines and write them at least this often (0: write each line at once). */
  readonly flushIntervalMs: number;
  /** File descriptor to write to; stdout by default. */
  readonly fd?: number;
}

/**
 * The request log, apart from the main logger as nginx's access log is apart from its error log: one line per
 * request is the most frequent write a worker makes, so lines are gathered into chunks of up to 4 KiB (each a
 * single write of whole lines) and written at least every `flushIntervalMs`. Whatever is buffered is lost only
 * if the process is killed outright; every other exit flushes it (see main.ts).
 */
export function createRequestLogger(options: RequestLoggerOptions): RequestLogger {
  const fd = options.fd ?? 1;
  const buffered = options.flushIntervalMs > 0;
  const destination = pino.destination(
    buffered ? { fd, sync: true, minLength: writeAtBytes, maxWrite: pipeAtomicBytes } : { fd, sync: true },
  );
  const logger = pino(
    { level: options.level, base: { pid: process.pid, ...options.base }, timestamp: pino.stdTimeFunctions.isoTime },
    destination,
  );
  const flush = () => {
    if (buffered) destination.flushSync();
  };
  // Ours rather than sonic-boom's periodicFlush, so close() can stop it: a timer left writing to a descriptor
  // number that something else has since opened would write into the wrong file or socket.
  const timer = buffered ? setInterval(flush, options.flushIntervalMs).unref() : undefined;
  return {
    logger,
    flush,
    close() {
      clearInterval(timer);
      flush();
    },
  };
}

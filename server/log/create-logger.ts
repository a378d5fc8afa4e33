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
    // Synchronous: nothing is lost when a worker dies. Buffered or asynchronous writing measured no faster
    // here (the cost of a request line is in building it, not in the write).
    options.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

import type { Middleware } from 'koa';
import { DatabaseUnavailableError } from '../db/db-errors.js';
import type { AppState } from './app-state.js';

/**
 * No request waits longer than `timeoutMs` (the acquire deadline plus the statement deadline): past it the client gets
 * its 503 + Retry-After (cause `request_deadline`) even when the handler made several database calls, each within its
 * own deadlines. The handler is not cancelled, only no longer waited for; its database calls stay bounded by the pool.
 */
export function requestDeadline(timeoutMs: number): Middleware<AppState> {
  return async (_ctx, next) => {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DatabaseUnavailableError('request_deadline')), timeoutMs);
    });
    try {
      await Promise.race([next(), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}

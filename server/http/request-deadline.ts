import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Middleware } from 'koa';
import { DatabaseUnavailableError } from '../db/db-errors.js';
import type { AppState } from './app-state.js';

/**
 * No request waits longer than `timeoutMs` (the acquire deadline plus the statement deadline), and an answer at that
 * deadline is the end of the request. The handler gets `ctx.state.signal` and passes it to every database call (as Go
 * passes a ctx); at the deadline the signal is aborted, so the pool stops waiting for a connection, abandons a running
 * statement (connection destroyed, server thread killed, its transaction rolled back) and refuses any later one.
 *
 * The answer is then whatever that made of the handler: the pool rejects the statement it cut off inside abort(), so a
 * handler waiting on the database settles within the same turn of the event loop, with OutcomeUnknownError (504) when
 * that statement may have committed. A handler busy with anything else (a password hash) by then has no statement
 * running and can send none: it is answered 503 `request_deadline` at once and left to find its next call refused.
 */
export function requestDeadline(timeoutMs: number): Middleware<AppState> {
  return async (ctx, next) => {
    const controller = new AbortController();
    ctx.state.signal = controller.signal;
    let settled = false;
    const handler = next().finally(() => {
      settled = true;
    });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    try {
      await Promise.race([handler, expired]);
    } finally {
      clearTimeout(timer);
    }
    if (settled) return;
    const reason = new DatabaseUnavailableError('request_deadline');
    controller.abort(reason);
    // Let the rejections abort() caused run through the handler's awaits (microtasks) before deciding.
    await Promise.race([handler, nextTurn()]);
    if (settled) return;
    // Still running, so not waiting on the database: whatever it does next is refused. Nobody waits for it now.
    handler.catch(() => {});
    throw reason;
  };
}

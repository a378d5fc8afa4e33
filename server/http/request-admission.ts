import type { Middleware } from 'koa';
import { OverloadedError, type AdmissionLimiter } from '../admission/admission-limiter.js';
import type { AppState } from './app-state.js';
import { httpErrors } from './http-error.js';

/**
 * Told how long each request that had to wait in line waited, why a refused one was refused, and of each that left
 * the line because its client hung up.
 */
export interface AdmissionObserver {
  admitted(waitSeconds: number): void;
  refused(reason: OverloadedError['reason']): void;
  abandoned(): void;
}

/*
 * A worker runs at most `limiter`'s concurrency of requests; the rest wait in line, first come first served, before
 * any work is done for them. Without it, a burst of 10,000 connections puts 10,000 requests in flight at once: each
 * holds its context, promises and timers while it waits for the pool, the garbage collector copies them all, the
 * worker's throughput falls by a third, and the pool's acquire deadline turns the longer wait into 503s. In line, a
 * request holds only what node:http and koa made for it, and its wait is bounded by the line's own timeout.
 *
 * It sits inside the error boundary (a refusal is a 503 `overloaded` with Retry-After, and the request line and
 * the HTTP metrics count the wait) and outside the request deadline, which starts when the request is admitted.
 *
 * A waiter whose client hangs up leaves the line at once: a place held for nobody would refuse the live client behind
 * it (HTTP_QUEUE_MAX) or make it wait. It is a 499, nginx's "client closed request", in the request log and the HTTP
 * metrics: not the 404 of a router that never ran, nor a 5xx that would page someone for a client's choice.
 */
export function requestAdmission(
  limiter: AdmissionLimiter,
  options: {
    /**
     * Paths answered at once, whatever waits (the route table's `unqueued`): a load balancer must not take a busy
     * worker for a dead one, and the OpenAPI document, served from memory, does no work worth a place in line.
     */
    readonly unqueued: ReadonlySet<string>;
    readonly observer?: AdmissionObserver | undefined;
  },
): Middleware<AppState> {
  const { unqueued, observer } = options;
  const leave = () => limiter.leave();
  const leaveAndThrow = (error: unknown) => {
    limiter.leave();
    throw error;
  };
  return (ctx, next) => {
    if (unqueued.has(ctx.path)) return next();
    // Room and nobody waiting (most requests, most times): one promise more than the rest of the chain's, no clock
    // read, no listener, nothing observed.
    if (limiter.tryEnter()) return next().then(leave, leaveAndThrow);
    const arrived = performance.now();
    // A response's 'close' before it was sent means its connection closed (node:http emits it for pipelined
    // requests too).
    const hangUp = new AbortController();
    const hungUp = () => hangUp.abort(httpErrors.clientClosedRequest());
    ctx.res.once('close', hungUp);
    return limiter
      .run(() => {
        ctx.res.off('close', hungUp);
        // Closed in the moment between the socket's end and its 'close' event: nobody is left to serve.
        if (ctx.req.socket.destroyed) {
          hungUp();
          throw hangUp.signal.reason;
        }
        observer?.admitted((performance.now() - arrived) / 1000);
        return next();
      }, hangUp.signal)
      .catch((error: unknown) => {
        ctx.res.off('close', hungUp);
        if (error instanceof OverloadedError) observer?.refused(error.reason);
        else if (hangUp.signal.aborted) observer?.abandoned();
        throw error;
      });
  };
}

import type { Middleware } from 'koa';
import { OverloadedError } from '../admission/admission-limiter.js';
import { DatabaseUnavailableError, OutcomeUnknownError } from '../db/db-errors.js';
import { HttpError, httpErrors } from './http-error.js';
import type { AppState } from './app-state.js';
import { problemDetails, problemJson } from './problem-details.js';

// Statuses and codes of the body parser's (raw-body / co-body) errors, by their `type`.
const bodyErrors: Record<string, () => HttpError> = {
  'entity.parse.failed': httpErrors.malformedJson,
  'encoding.unsupported': httpErrors.unsupportedMediaType,
  'charset.unsupported': httpErrors.unsupportedMediaType,
  'request.aborted': () => httpErrors.badRequest('The request body was cut short.'),
  'request.size.invalid': () => httpErrors.badRequest('Content-Length does not match the body.'),
  'stream.encoding.set': () => httpErrors.badRequest('The request body could not be read.'),
};

function toHttpError(error: unknown, bodyLimitBytes: number): HttpError | undefined {
  if (error instanceof HttpError) return error;
  if (error instanceof OverloadedError) {
    return httpErrors.serviceUnavailable('overloaded', error.detail);
  }
  // Before its parent class: a write that may have committed must never be told as "nothing was written" (503).
  if (error instanceof OutcomeUnknownError) return httpErrors.outcomeUnknown();
  if (error instanceof DatabaseUnavailableError) {
    return httpErrors.serviceUnavailable('service_unavailable', 'The database is unavailable; retry shortly.');
  }
  if (error !== null && typeof error === 'object') {
    const type = 'type' in error ? String(error.type) : '';
    if (type === 'entity.too.large') return httpErrors.payloadTooLarge(bodyLimitBytes);
    const known = bodyErrors[type];
    if (known) return known();
    if (error instanceof SyntaxError) return httpErrors.malformedJson();
  }
  return undefined;
}

/**
 * The one error boundary: expected failures become their RFC 9457 problem (application/problem+json); anything else is
 * logged once with the request id and answered with a 500 that says nothing internal. It also turns
 * the router's "no route" (404) and "wrong method" (405/501) outcomes into JSON errors.
 */
export function errorBoundary(options: { readonly bodyLimitBytes: number }): Middleware<AppState> {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body === undefined || ctx.body === null) {
        if (ctx.status === 404) throw httpErrors.notFound();
        if (ctx.status === 405 || ctx.status === 501)
          throw httpErrors.methodNotAllowed(String(ctx.response.get('Allow')));
      }
    } catch (error) {
      const known = toHttpError(error, options.bodyLimitBytes);
      if (!known) ctx.state.log.error({ err: error }, 'unhandled error');
      const httpError = known ?? new HttpError(500, 'internal_error', 'Something went wrong on our side.');
      // The request line carries the code (and for a 5xx its cause) rather than a line of its own: under a flood of
      // shed logins or a database outage, a second line per request would add to the load that caused it.
      ctx.state.error =
        httpError.status >= 500 ? { code: httpError.code, cause: describe(error) } : { code: httpError.code };
      // Drop headers a handler may have set before failing (e.g. caching), keep the framing ones koa needs.
      const allow = ctx.response.get('Allow');
      ctx.res.getHeaderNames().forEach((name) => {
        if (!['x-request-id', 'x-content-type-options', 'cache-control', 'connection'].includes(name)) ctx.remove(name);
      });
      if (allow && httpError.status === 405) ctx.set('Allow', String(allow));
      ctx.status = httpError.status;
      ctx.set(httpError.extra.headers ?? {});
      ctx.body = problemDetails(httpError, ctx.state.requestId);
      ctx.type = problemJson;
    }
  };
}

function describe(error: unknown): string {
  if (error instanceof DatabaseUnavailableError) return error.code;
  if (error instanceof OverloadedError) return error.reason;
  return error instanceof Error ? error.name : typeof error;
}

import type { HttpError } from './http-error.js';

/** RFC 9457's media type for error bodies. */
export const problemJson = 'application/problem+json';

/**
 * The `type` of each error code: a relative URI reference naming the problem (RFC 9457 §3.1.1: an identifier for
 * clients to switch on, not a page they should fetch). Documented, with every code, in the OpenAPI document.
 */
export const problemType = (code: string): string => `/problems/${code.replace(/_/g, '-')}`;

/** The titles of the statuses the API answers with: the same for every occurrence of a problem type. */
const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string;
  /** Extension members, kept from the API's first error format so existing clients keep working. */
  readonly error: string;
  readonly message: string;
  readonly requestId: string;
  readonly fields?: Record<string, string>;
}

/**
 * An HttpError as an RFC 9457 problem. `instance` names this occurrence by its request id (the id in the request
 * line and in X-Request-Id), never by the path, which may carry what a client typed.
 */
export function problemDetails(error: HttpError, requestId: string): ProblemDetails {
  return {
    type: problemType(error.code),
    title: titles[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    instance: `/requests/${encodeURIComponent(requestId)}`,
    error: error.code,
    message: error.message,
    requestId,
    ...(error.extra.fields ? { fields: error.extra.fields } : {}),
  };
}

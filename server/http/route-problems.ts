import { idempotencyKeyLength } from './idempotency-key-header.js';
import type { ProblemSpec } from './route-spec.js';

/** The problems routes share, as the route table declares them and the OpenAPI document describes them. */

export const unavailable = (codes: readonly string[] = ['service_unavailable', 'overloaded']): ProblemSpec => ({
  status: 503,
  codes,
  description:
    'Nothing was written. The database is unavailable or did not answer within its deadlines (`service_unavailable`), or the worker is overloaded (`overloaded`: its line of waiting requests was full, the request waited HTTP_QUEUE_TIMEOUT_MS, or for a login the hashing budget is full); retry after Retry-After seconds',
  headers: ['Retry-After'],
});

/** For the operations that take an Idempotency-Key. */
export const idempotencyProblems: readonly ProblemSpec[] = [
  {
    status: 400,
    codes: ['invalid_idempotency_key'],
    description: `Idempotency-Key is not one string of ${idempotencyKeyLength.min} to ${idempotencyKeyLength.max} visible ASCII characters`,
  },
  {
    status: 409,
    codes: ['idempotency_key_in_use'],
    description: 'A request with this Idempotency-Key is still being processed; retry after Retry-After seconds',
    headers: ['Retry-After'],
  },
  {
    status: 422,
    codes: ['idempotency_key_reused'],
    description: 'This Idempotency-Key was already used with a different request body',
  },
];

/** For the operations that write: a write sent and never confirmed. */
export const outcomeUnknown: ProblemSpec = {
  status: 504,
  codes: ['outcome_unknown'],
  description:
    'A write was sent to the database and its deadline passed or its connection was lost before the database confirmed it: it may or may not have been applied. Retry after Retry-After seconds',
  headers: ['Retry-After'],
};

/** For the operations with a JSON body. */
export const jsonBodyProblems: readonly ProblemSpec[] = [
  {
    status: 400,
    codes: ['malformed_json', 'bad_request'],
    description: 'The body is not valid JSON, or could not be read or decompressed',
  },
  { status: 413, codes: ['payload_too_large'], description: 'The body is larger than 16 KiB' },
  {
    status: 415,
    codes: ['unsupported_media_type'],
    description:
      'The body is not application/json in UTF-8, or its Content-Encoding is not identity, gzip, deflate or br',
  },
  {
    status: 422,
    codes: ['validation_failed'],
    description: 'Some fields are invalid; `fields` has one message per field',
  },
];

/** For the operations that need a bearer token. */
export const bearerProblems: readonly ProblemSpec[] = [
  {
    status: 401,
    codes: ['unauthorized'],
    description:
      'No bearer token, or one that is malformed, unknown, revoked or expired (then WWW-Authenticate says `error="invalid_token"`)',
    headers: ['WWW-Authenticate'],
  },
];

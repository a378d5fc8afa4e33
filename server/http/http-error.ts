/**
 * An expected failure with the status and public code the client sees. Thrown anywhere in a request;
 * the error boundary turns it into an RFC 9457 problem (see problem-details.ts).
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { readonly headers?: Record<string, string>; readonly fields?: Record<string, string> } = {},
  ) {
    super(message);
  }
}

/** Seconds a client should wait before retrying a 503 or a 504. */
export const retryAfterSeconds = 1;

export const httpErrors = {
  malformedJson: () => new HttpError(400, 'malformed_json', 'The request body is not valid JSON.'),
  badRequest: (message: string) => new HttpError(400, 'bad_request', message),
  /**
   * RFC 6750 §3: a request without credentials gets the bare challenge; one whose token is malformed,
   * unknown, revoked or expired is told `invalid_token`, so clients know to log in again.
   */
  unauthorized: (tokenGiven: boolean) =>
    new HttpError(401, 'unauthorized', 'A valid bearer token is required.', {
      headers: { 'WWW-Authenticate': tokenGiven ? 'Bearer error="invalid_token"' : 'Bearer' },
    }),
  invalidCredentials: () => new HttpError(401, 'invalid_credentials', 'Invalid email or password.'),
  notFound: () => new HttpError(404, 'not_found', 'No such route.'),
  methodNotAllowed: (allow: string) =>
    new HttpError(405, 'method_not_allowed', 'This route does not accept that method.', { headers: { Allow: allow } }),
  emailTaken: () => new HttpError(409, 'email_taken', 'An account with this email already exists.'),
  invalidIdempotencyKey: () =>
    new HttpError(
      400,
      'invalid_idempotency_key',
      'Idempotency-Key must be one string of 16 to 255 visible ASCII characters, such as a UUID.',
    ),
  /** IETF httpapi Idempotency-Key draft: the request that holds the key is still running. */
  idempotencyKeyInUse: (retryAfter: number) =>
    new HttpError(
      409,
      'idempotency_key_in_use',
      'A request with this Idempotency-Key is still being processed; retry after Retry-After seconds.',
      { headers: { 'Retry-After': String(retryAfter) } },
    ),
  /** IETF httpapi Idempotency-Key draft: the key was used with another request body. */
  idempotencyKeyReused: () =>
    new HttpError(
      422,
      'idempotency_key_reused',
      'This Idempotency-Key was already used with a different request body.',
    ),
  tooManyAttempts: (retryAfter: number) =>
    new HttpError(429, 'too_many_attempts', 'Too many failed logins; wait before trying again.', {
      headers: { 'Retry-After': String(retryAfter) },
    }),
  payloadTooLarge: (limit: number) =>
    new HttpError(413, 'payload_too_large', `The request body is larger than ${limit} bytes.`),
  unsupportedMediaType: () =>
    new HttpError(415, 'unsupported_media_type', 'Send the body as application/json (UTF-8).'),
  validationFailed: (fields: Record<string, string>) =>
    new HttpError(422, 'validation_failed', 'Some fields are invalid.', { fields }),
  /**
   * nginx's 499: the client closed the connection before its answer (it left the request line). Never sent, since
   * nobody is there to read it; the request log and the HTTP metrics carry it, apart from the 4xx and 5xx we answered.
   */
  clientClosedRequest: () =>
    new HttpError(499, 'client_closed_request', 'The client closed the connection before the response.'),
  serviceUnavailable: (code: string, message: string) =>
    new HttpError(503, code, message, { headers: { 'Retry-After': String(retryAfterSeconds) } }),
  /**
   * A write was sent and the database never said how it ended: it may have been applied. Not a 503, which promises
   * that nothing was written. A retry with the same Idempotency-Key tells the client which it was.
   */
  outcomeUnknown: () =>
    new HttpError(
      504,
      'outcome_unknown',
      'The database did not confirm whether this request was applied: it may have been. Retry with the same Idempotency-Key to learn the outcome.',
      { headers: { 'Retry-After': String(retryAfterSeconds) } },
    ),
};

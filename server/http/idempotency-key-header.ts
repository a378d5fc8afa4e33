import { httpErrors } from './http-error.js';

/** How long a key may be: long enough to be unguessable (a UUID has 36 characters), short enough to be a key. */
export const idempotencyKeyLength = { min: 16, max: 255 } as const;

// RFC 8941 sf-string: printable ASCII in double quotes, with \" and \\ escaped.
const sfString = /^"((?:[\x20\x21\x23-\x5B\x5D-\x7E]|\\["\\])*)"$/;
// What many clients send instead: the key unquoted. Visible ASCII without quotes, backslashes or commas (a comma is
// what joins two Idempotency-Key fields into one, and a request with two keys is malformed).
const bare = /^[\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]+$/;

/**
 * The Idempotency-Key of a request, or undefined when it has none. The draft makes the field a Structured Field
 * string (`Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"`); a bare value is taken as the same key. Anything
 * else, or a key outside `idempotencyKeyLength`, is a 400: a key the server cannot read must not be ignored.
 */
export function parseIdempotencyKey(field: string): string | undefined {
  if (field === '') return undefined;
  const quoted = sfString.exec(field);
  const key = quoted ? (quoted[1] ?? '').replace(/\\(["\\])/g, '$1') : bare.test(field) ? field : undefined;
  if (key === undefined || key.length < idempotencyKeyLength.min || key.length > idempotencyKeyLength.max)
    throw httpErrors.invalidIdempotencyKey();
  return key;
}

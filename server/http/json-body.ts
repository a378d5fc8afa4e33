import coBody from 'co-body';
import type { Context } from 'koa';
import { httpErrors } from './http-error.js';

// The codings co-body (via `inflation`) decodes, spelled as it matches them; anything else it throws an untyped error for.
const supportedEncodings = new Set(['identity', 'gzip', 'deflate', 'br']);

/**
 * Reads a JSON body: 415 unless it is declared application/json (and in a content coding we decode), 413 past
 * the limit (checked against Content-Length before reading, and after decompression), 400 when it does not
 * parse or decompress. Returns the parsed value unvalidated.
 */
export async function readJsonBody(ctx: Context, limitBytes: number): Promise<unknown> {
  if (!ctx.is('application/json')) throw httpErrors.unsupportedMediaType();
  const charset = ctx.request.charset;
  if (charset !== '' && charset.toLowerCase() !== 'utf-8' && charset.toLowerCase() !== 'utf8')
    throw httpErrors.unsupportedMediaType();
  const encoding = ctx.get('Content-Encoding') || 'identity';
  if (!supportedEncodings.has(encoding)) throw httpErrors.unsupportedMediaType();
  let body: { parsed: unknown; raw: string };
  try {
    // strict: only objects and arrays at the top level. co-body also refuses `__proto__` keys (a 400).
    body = await coBody.json(ctx.req, { limit: limitBytes, strict: true, encoding: 'utf8', returnRawBody: true });
  } catch (error) {
    // zlib / brotli refusing a body that is not what its Content-Encoding says: the client's fault, not a 500.
    if (encoding !== 'identity' && isDecompressionError(error))
      throw httpErrors.badRequest('The request body could not be decompressed.');
    throw error;
  }
  // co-body reads an empty body as {}; a JSON route given nothing was sent a malformed request.
  if (body.raw.trim() === '') throw httpErrors.malformedJson();
  return body.parsed;
}

/** zlib's errors carry a numeric `errno` and a `code` (Z_DATA_ERROR, ERR__ERROR_FORMAT_…); raw-body's carry a `type`. */
function isDecompressionError(error: unknown): boolean {
  return error instanceof Error && !('type' in error) && typeof (error as { errno?: unknown }).errno === 'number';
}

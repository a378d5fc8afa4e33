import coBody from 'co-body';
import type { Context } from 'koa';
import { httpErrors } from './http-error.js';

/**
 * Reads a JSON body: 415 unless it is declared application/json, 413 past the limit (checked against
 * Content-Length before reading), 400 when it does not parse. Returns the parsed value unvalidated.
 */
export async function readJsonBody(ctx: Context, limitBytes: number): Promise<unknown> {
  if (!ctx.is('application/json')) throw httpErrors.unsupportedMediaType();
  const charset = ctx.request.charset;
  if (charset !== '' && charset.toLowerCase() !== 'utf-8' && charset.toLowerCase() !== 'utf8') throw httpErrors.unsupportedMediaType();
  // strict: only objects and arrays at the top level. co-body also refuses `__proto__` keys (a 400).
  const { parsed, raw } = await coBody.json(ctx.req, { limit: limitBytes, strict: true, encoding: 'utf8', returnRawBody: true });
  // co-body reads an empty body as {}; a JSON route given nothing was sent a malformed request.
  if (raw.trim() === '') throw httpErrors.malformedJson();
  return parsed as unknown;
}
